# The kernel lab's join (benchmarks/kernel_lab_table.py) on small hand-written result files of both sides.
import json
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

from kernel_lab_table import LabError, join  # noqa: E402

ATTENTION = "B1 T128 H4/2 D64"
FLOPS = 2 * 1 * 4 * 128 * 128 * 64


def rate_row(kernel, shape, impl, work, unit, rate):
    return {"kernel": kernel, "shape": shape, "impl": impl, "seconds": work / rate / 1e12, "work": work, "unit": unit,
            "rate": rate}


def ours():
    return {"meta": {"date": "2026-12-07", "device": "NVIDIA H100", "command": "build/kernel_lab --json ours.json"},
            "rows": [rate_row("attention_forward", ATTENTION, "diverge", FLOPS, "TFLOP/s", 300.0),
                     rate_row("rmsnorm_forward", "T64 C64", "diverge", 16512, "GB/s", 2000.0),
                     rate_row("rmsnorm_forward", "T64 C64", "copy", 16512, "GB/s", 2500.0)]}


def torch_side():
    refused = {"kernel": "attention_forward", "shape": ATTENTION, "impl": "torch sdpa cudnn", "work": FLOPS,
               "unit": "TFLOP/s", "error": "cuDNN refuses GQA"}
    return {"meta": {"date": "2026-12-07", "device": "NVIDIA H100", "command": "kernel_lab_torch.py --json t.json",
                     "torch": "2.15.0", "cuda": "13.2", "cudnn": 92600},
            "rows": [refused, rate_row("attention_forward", ATTENTION, "torch sdpa flash", FLOPS, "TFLOP/s", 400.0),
                     rate_row("rmsnorm_forward", "T64 C64", "torch rms_norm", 16512, "GB/s", 1600.0),
                     rate_row("rmsnorm_forward", "T128 C64", "torch rms_norm", 32832, "GB/s", 1700.0)]}


class JoinTest(unittest.TestCase):
    def test_tables_hold_both_sides_and_the_ratios(self):
        self.assertEqual(join(ours(), torch_side()), [
            "### attention_forward (TFLOP/s)", "",
            "| shape | ours | torch sdpa cudnn | torch sdpa flash | ours / torch sdpa cudnn"
            " | ours / torch sdpa flash |",
            "|---|---|---|---|---|---|",
            f"| {ATTENTION} | 300 | error | 400 | - | 0.75x |", "",
            f"- torch sdpa cudnn, {ATTENTION}: cuDNN refuses GQA", "",
            "### rmsnorm_forward (GB/s)", "",
            "| shape | ours | copy | torch rms_norm | ours / copy | ours / torch rms_norm |",
            "|---|---|---|---|---|---|",
            "| T64 C64 | 2000 | 2500 | 1600 | 0.80x | 1.25x |",
            "| T128 C64 | - | - | 1700 | - | - |", ""])

    def test_work_counted_differently_is_refused(self):
        theirs = torch_side()
        theirs["rows"][1]["work"] = 2 * FLOPS
        with self.assertRaisesRegex(LabError, "count it differently"):
            join(ours(), theirs)

    def test_a_repeated_row_is_refused(self):
        theirs = torch_side()
        theirs["rows"].append(dict(theirs["rows"][1]))
        with self.assertRaisesRegex(LabError, "appears twice"):
            join(ours(), theirs)

    def test_a_kernel_in_two_units_is_refused(self):
        theirs = torch_side()
        theirs["rows"][2]["unit"] = "TFLOP/s"
        with self.assertRaisesRegex(LabError, "measured in"):
            join(ours(), theirs)

    def test_a_row_without_rate_or_error_is_refused(self):
        mine = ours()
        del mine["rows"][0]["rate"]
        with self.assertRaisesRegex(LabError, "a rate or an error"):
            join(mine, torch_side())

    def test_the_command_writes_the_tables_with_the_meta(self):
        with tempfile.TemporaryDirectory() as scratch:
            files = {"ours": ours(), "torch": torch_side()}
            for name, document in files.items():
                (Path(scratch) / f"{name}.json").write_text(json.dumps(document))
            subprocess.run([sys.executable, str(REPO / "benchmarks" / "kernel_lab_table.py"), "--ours",
                            f"{scratch}/ours.json", "--torch", f"{scratch}/torch.json", "--out", "lab.md",
                            "--results-dir", scratch], check=True, capture_output=True)
            text = (Path(scratch) / "lab.md").read_text()
        self.assertIn("- Device: ours NVIDIA H100, PyTorch NVIDIA H100", text)
        self.assertIn("- Commands: `build/kernel_lab --json ours.json`; `kernel_lab_torch.py --json t.json`", text)
        self.assertIn("- PyTorch 2.15.0, CUDA 13.2, cuDNN 92600", text)
        self.assertRegex(text, r"- Commit: [0-9a-f]{7,}")
        self.assertIn("| T64 C64 | 2000 | 2500 | 1600 | 0.80x | 1.25x |", text)

    def test_ours_without_a_row_of_our_kernels_is_refused(self):
        mine = ours()
        for row in mine["rows"]:
            row["impl"] = "copy"
        with self.assertRaisesRegex(LabError, "no row of impl"):
            join(mine, torch_side())


if __name__ == "__main__":
    unittest.main()
