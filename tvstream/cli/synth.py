"""``tvstream synth``: render a labeled synthetic dataset (studio, dive, ski) to try the method on."""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tvstream.cli.context import AppContext, pass_app

SCENARIO_NAMES = ("studio", "dive", "ski", "mixed", "varied")


class FrameSize(click.ParamType):
    """``WxH`` with even numbers, e.g. ``640x360``."""

    name = "WxH"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            w, h = (int(v) for v in str(value).lower().split("x"))
        except ValueError:
            self.fail(f"{value!r} is not a size like 640x360", param, ctx)
        if w < 16 or h < 16 or w % 2 or h % 2:
            self.fail(f"{value!r}: width and height must be even and at least 16", param, ctx)
        return (w, h)


@click.command()
@click.option("--scenario", type=click.Choice(SCENARIO_NAMES), default="studio", show_default=True,
              help="studio: 4 synchronised cameras; dive: 10 m platform, fixed camera; ski: panning camera; "
                   "mixed: the studio with every everyday motion family; varied: those motions, one camera drawn per "
                   "take (field of view 20-90 degrees, roll, pan, zoom, 10-95% of the frame), lighting, occluders.")
@click.option("--subjects", type=click.IntRange(1, 1000), default=4, show_default=True,
              help="Distinct bodies; split by subject into unlabeled train / labeled / test.")
@click.option("--sequences", type=click.IntRange(1, 100), default=2, show_default=True,
              help="Motions per subject.")
@click.option("--seconds", type=click.FloatRange(0.1, 600), default=4.0, show_default=True,
              help="Length of each sequence.")
@click.option("--size", type=FrameSize(), default="256x256", show_default=True, help="Frame size WxH.")
@click.option("--fps", type=click.FloatRange(1, 240), default=25.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same dataset.")
@click.option("--backgrounds", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder of images/videos of your venue to use as background plates.")
@click.option("--textures", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder of photos: half the garments are printed with patches cut from them.")
@click.option("--no-shadows", is_flag=True, help="No contact shadow under the athlete (there is none over --backgrounds plates).")
@click.option("--loose", type=click.FloatRange(0, 0.2), default=0.0, show_default=True,
              help="Clothes that stand off the body by up to this many metres (torso, arms, legs; drawn per subject), "
                   "as camera footage's people wear them.")
@click.option("--bvh", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder of BVH motion capture (CMU/Mixamo joint names) to drive the bodies instead.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder (videos/, labels/, manifest.json).")
@click.option("--contact-sheet", "sheet", is_flag=True, help="Also write contact_sheet.png with labels drawn.")
@pass_app
def synth(app: AppContext, scenario: str, subjects: int, sequences: int, seconds: float, size: tuple[int, int],
          fps: float, seed: int, backgrounds: Path | None, textures: Path | None, no_shadows: bool, loose: float,
          bvh: Path | None, out_dir: Path, sheet: bool) -> None:
    """Render synthetic athletes (anny bodies, procedural motions) to H.264 videos with 3D/2D labels.

    \b
    Example:
      tvstream synth --scenario dive --subjects 6 --seconds 4 --size 640x360 --out data/dive
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.BadParameter(f"cannot create {out_dir}: {exc.strerror}", param_hint="--out") from None
    if not os.access(out_dir, os.W_OK):
        raise click.BadParameter(f"{out_dir} is not writable", param_hint="--out")
    from train.synth.contact_sheet import contact_sheet  # lazy: torch, anny and moderngl
    from train.synth.generate import SynthConfig, synthesize

    cfg = SynthConfig(scenario=scenario, subjects=subjects, sequences=sequences, seconds=seconds, width=size[0],
                      height=size[1], fps=fps, seed=seed, backgrounds=str(backgrounds) if backgrounds else None,
                      textures=str(textures) if textures else None, shadows=not no_shadows,
                      loose=loose, bvh=str(bvh) if bvh else None)
    with Progress(TextColumn("[bold]synth[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("frames"), TimeRemainingColumn(), console=app.console, disable=app.quiet) as bar:
        task = bar.add_task(scenario, total=None)
        entries = synthesize(cfg, out_dir, progress=lambda done, total: bar.update(task, completed=done, total=total))
    app.say(f"wrote {len(entries)} videos and labels to {out_dir} (manifest.json)")
    if sheet:
        path = contact_sheet(out_dir, out_dir / "contact_sheet.png")
        app.say(f"contact sheet: {path}")
