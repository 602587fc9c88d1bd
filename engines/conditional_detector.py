"""Run an exported pose network's person detector only on frames that need a detector (an ONNX ``If``).

MediaPipe's person detector (``train/pretrained/blazepose_detector.py``) costs more than the rest of the
default model together (7 ms against 5.5 ms a frame on the 2-core CPU). The runtime needs it only when it
has no crop to follow: a frame whose ``track`` row has ``use`` = 1 is cropped from the previous frame's joints
and the detector's box is not read (MediaPipe's own pipeline runs its detector the same way). So after the
export, the nodes that compute only the detector's outputs move into the ``then`` branch of an ``If`` on
"some frame of the batch has use < 0.5"; its ``else`` branch gives outputs that say "nobody" (logit -100,
centre and half-size 1), so the graph falls back to boxnet, whose box the tracked crop ignores and whose map
the runtime reads on tracked frames as it did before the person detector existed.

The nodes are found by the exporter's scope names (``/net/person_detector/...``) plus the nodes only they
consume (the resized frame), so no other output can change: tests compare the graph with and without the
branch on detector frames and tracked frames.
"""

from __future__ import annotations

SCOPE = "/net/person_detector/"
NOBODY_LOGIT = -100.0


def _exclusive(nodes, inside: set[int], constants: set[str]) -> set[int]:
    """``inside`` grown by every non-constant node whose outputs only nodes inside consume."""
    consumers: dict[str, set[int]] = {}
    for i, n in enumerate(nodes):
        for t in n.input:
            consumers.setdefault(t, set()).add(i)
    grew = True
    while grew:
        grew = False
        for i, n in enumerate(nodes):
            if i in inside or n.op_type in ("Constant", "Cast", "Identity") or set(n.output) & constants:
                continue
            used = set().union(*(consumers.get(o, set()) for o in n.output))
            if used and used <= inside:
                inside.add(i)
                grew = True
    return inside


def _toposort(nodes, available: set[str]) -> list:
    """Nodes in an order where every input (a subgraph's outer-scope reads included) is made before use."""
    def reads(n) -> set[str]:
        got = {t for t in n.input if t}
        for attr in n.attribute:
            if attr.HasField("g"):
                got |= {t for sub in attr.g.node for t in sub.input if t}
                got -= {t for sub in attr.g.node for t in sub.output} | {i.name for i in attr.g.initializer}
        return got

    needs = [reads(n) for n in nodes]
    pending, order, have = list(range(len(nodes))), [], set(available)
    while pending:
        ready = [i for i in pending if needs[i] <= have]
        if not ready:
            raise ValueError("the graph has a cycle or reads an unknown tensor")
        for i in ready:
            order.append(nodes[i])
            have |= set(nodes[i].output)
        placed = set(ready)
        pending = [i for i in pending if i not in placed]
    return order


def detect_only_when_needed(model, track_input: str = "track") -> bool:
    """Rewrite ``model`` (an ``onnx.ModelProto`` of a pose network with a person detector) in place; False when
    the graph has no person detector."""
    import onnx
    from onnx import TensorProto, helper

    graph = model.graph
    nodes = list(graph.node)
    inside = {i for i, n in enumerate(nodes) if n.name.startswith(SCOPE)}
    if not inside:
        return False
    constants = {i.name for i in graph.initializer}
    inside = _exclusive(nodes, inside, constants)
    made = {t for i in inside for t in nodes[i].output}
    leaving = [t for i, n in enumerate(nodes) if i not in inside for t in n.input if t in made]
    leaving += [o.name for o in graph.output if o.name in made]
    leaving = list(dict.fromkeys(leaving))  # the detector's outputs other nodes read, in order of first use
    shapes = {v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
              for v in onnx.shape_inference.infer_shapes(model).graph.value_info if v.name in leaving}
    if set(shapes) != set(leaving) or any(None in shape[1:] for shape in shapes.values()):
        raise ValueError(f"the person detector's outputs {leaving} need shapes fixed but for the batch, got {shapes}")

    renamed = {t: f"{t}__detected" for t in leaving}
    # the exporter shares equal weights through Identity nodes; the branch reads the weight itself, and an Identity
    # only the branch read goes (else ONNX Runtime, removing it, cannot rename the branch's read and says so)
    alias = {n.output[0]: n.input[0] for n in nodes if n.op_type == "Identity" and n.input[0] in constants}
    renamed.update({t: a for t, a in alias.items() if t not in renamed})
    reads_outside = {t for i, n in enumerate(nodes) if i not in inside for t in n.input}
    dead = {i for i, n in enumerate(nodes) if n.op_type == "Identity" and n.output[0] in alias
            and n.output[0] not in reads_outside and n.output[0] not in {o.name for o in graph.output}}
    then_nodes = []
    for i in sorted(inside):
        n = nodes[i]
        copy = onnx.NodeProto()
        copy.CopyFrom(n)
        copy.output[:] = [renamed.get(t, t) for t in n.output]
        copy.input[:] = [renamed.get(t, t) for t in n.input]
        then_nodes.append(copy)
    outputs = [helper.make_tensor_value_info(renamed[t], TensorProto.FLOAT, None) for t in leaving]
    then_branch = helper.make_graph(then_nodes, "person_detector", [], outputs)

    n_rows = "person_detector__rows"  # (1,) the batch size, from the track input
    else_nodes = [helper.make_node("Shape", [track_input], [n_rows], start=0, end=1)]
    else_outputs = []
    for t in leaving:
        fixed = shapes[t][1:]  # the detector's sizes but for the batch: (N,) logits, (N, 2) points and sizes
        shape, out = f"{t}__shape", f"{t}__nobody"
        if fixed:
            else_nodes.append(helper.make_node("Constant", [], [f"{t}__fixed"], value=helper.make_tensor(
                f"{t}__fixed", TensorProto.INT64, [len(fixed)], fixed)))
            else_nodes.append(helper.make_node("Concat", [n_rows, f"{t}__fixed"], [shape], axis=0))
        else:
            else_nodes.append(helper.make_node("Identity", [n_rows], [shape]))
        value = 1.0 if fixed else NOBODY_LOGIT
        else_nodes.append(helper.make_node("ConstantOfShape", [shape], [out],
                                           value=helper.make_tensor("v", TensorProto.FLOAT, [1], [value])))
        else_outputs.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, None))
    else_branch = helper.make_graph(else_nodes, "nobody", [], else_outputs)

    rest = [n for i, n in enumerate(nodes) if i not in inside and i not in dead]
    _move_weights_into(then_branch, rest, graph)  # before the If copies the branch
    cond = [f"person_detector__{s}" for s in ("use", "free", "most", "cond")]
    starts, ends, axes = (helper.make_tensor(f"person_detector__{s}", TensorProto.INT64, [1], [v])
                          for s, v in (("start", 0), ("end", 1), ("axis", 1)))
    graph.initializer.extend([starts, ends, axes,
                              helper.make_tensor("person_detector__one", TensorProto.FLOAT, [], [1.0]),
                              helper.make_tensor("person_detector__half", TensorProto.FLOAT, [], [0.5])])
    head = [helper.make_node("Slice", [track_input, starts.name, ends.name, axes.name], [cond[0]]),
            helper.make_node("Sub", ["person_detector__one", cond[0]], [cond[1]]),
            helper.make_node("ReduceMax", [cond[1]], [cond[2]], keepdims=0),
            helper.make_node("Greater", [cond[2], "person_detector__half"], [cond[3]]),
            helper.make_node("If", [cond[3]], leaving, name="person_detector_if_detecting",
                             then_branch=then_branch, else_branch=else_branch)]
    rest += head
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer}
    del graph.node[:]
    graph.node.extend(_toposort(rest, available))
    return True


def _move_weights_into(branch, main_nodes: list, graph) -> None:
    """Move the weights only ``branch`` reads (initializers, and the nodes that widen stored ones) into it.

    Read from the outer scope, ONNX Runtime handed the branch its weights on every run: 24 against 16 ms a
    detector frame on the 2-core CPU; as the branch's own constants they are folded and prepacked once, as in a
    graph without the ``If``. ``main_nodes`` (the outer graph's nodes, the ``If`` not among them) loses the moved
    Casts; ``graph`` its moved initializers."""
    inits = {i.name: i for i in graph.initializer}
    outer_reads: dict[str, int] = {}
    for n in main_nodes:
        for t in n.input:
            outer_reads[t] = outer_reads.get(t, 0) + 1
    outer_reads.update({o.name: 1 for o in graph.output})
    made = {o: n for n in main_nodes for o in n.output}

    def widening(t: str) -> list | None:
        """The nodes that make ``t`` from stored weights alone (a float16 Cast; an int8 Cast and Mul), each of
        their inputs read by nothing else; None when ``t`` is not made so."""
        node = made.get(t)
        if node is None or node.op_type not in ("Cast", "Mul"):
            return None
        chain = [node]
        for i in node.input:
            if outer_reads.get(i) != 1:  # another node reads it too: it stays outside
                return None
            if i not in inits:
                inner = widening(i)
                if inner is None:
                    return None
                chain = inner + chain
        return chain

    moved_nodes, moved = [], set()
    for t in sorted({t for n in branch.node for t in n.input}):
        if t in outer_reads:
            continue
        if t in inits:
            moved.add(t)
        elif (chain := widening(t)) is not None:
            moved_nodes.extend(chain)
            moved.update(i for n in chain for i in n.input if i in inits)
    for n in moved_nodes:
        main_nodes.remove(n)
    branch.initializer.extend(inits[t] for t in sorted(moved))
    kept = [i for i in graph.initializer if i.name not in moved]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = moved_nodes + list(branch.node)
    del branch.node[:]
    branch.node.extend(nodes)
