"""The runtime package must import (and its CLI start) on deploy boxes that have no torch."""

import subprocess
import sys

HEAVY = ("torch", "torchvision", "tensorrt", "onnx", "moderngl", "cv2", "train")


def test_import_tvstream_does_not_import_torch_or_train():
    code = (
        "import sys\n"
        "import tvstream, tvstream.cli.main, tvstream.labels, tvstream.manifest, tvstream.output_schema\n"
        "import tvstream.sysinfo, engines, engines.metadata, engines.backends, engines.backends.onnxruntime\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_help_does_not_import_torch():
    code = (
        "import sys\n"
        "from tvstream.cli.main import cli\n"
        "try:\n"
        "    cli.main(['--help'], standalone_mode=False)\n"
        "finally:\n"
        "    print('TORCH' if 'torch' in sys.modules else 'CLEAN', file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip().endswith("CLEAN")
