"""engines: ONNX export, TensorRT builds and the inference backends behind one interface.

numpy only at import; torch/onnx are imported inside export, tensorrt/pycuda inside the TensorRT backend.
"""
