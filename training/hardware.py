"""What this machine's CPU can do for training: read once, from the operating system."""

from __future__ import annotations

from pathlib import Path

# Instruction sets with native bfloat16 arithmetic, as Linux names them in /proc/cpuinfo; oneDNN uses them.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags (Linux); empty where the file is absent or unreadable."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def bf16_supported(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU computes in bfloat16 natively (without it, mixed_bfloat16 is emulated and slow)."""
    return any(flag in cpu_flags(cpuinfo) for flag in BF16_FLAGS)


def choose_precision(requested: str, *, cpu_bf16: bool, gpus: int) -> str:
    """The Keras dtype policy to train with. auto: mixed_bfloat16 on a CPU with native bfloat16, where
    benchmarks/fit_throughput.py measured it faster at the same val loss; float32 elsewhere (emulated bfloat16 is slow,
    and a GPU's support is not detected here: ask for mixed_bfloat16 explicitly)."""
    if requested != "auto":
        return requested
    return "mixed_bfloat16" if cpu_bf16 and gpus == 0 else "float32"
