"""Which machine a measurement ran on, and benchmark results kept side by side per machine.

Speed ratios move with the CPU: the same benchmark gave 1.44x on one 2-core box and 1.14x on an
AMD EPYC with AVX-512 (issue #33). So every `benchmarks/results/*.json` names its machine
(`machine_info`: CPU model, cores, the instruction-set flags that pick kernels, torch and its
oneDNN / MKL build, threads) and holds one entry per machine (`machine_key`): a run replaces only
its own machine's entry, never another CPU's.

    write_result(RESULTS, result)          # {"machines": {key: {**result, "machine": info}}}
    previous = read_result(RESULTS)        # this machine's entry, or {}

Files written before machine info existed keep their content under `LEGACY_KEY` (see `migrate`).
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import torch

from worldsmith import fs

LEGACY_KEY = "unknown (recorded before machine info)"
LAYOUT = (
    "results keyed by machine (worldsmith.machine.machine_key): a run replaces only its own machine's entry"
)
# Flags that decide which CPU kernels torch, oneDNN and MKL run (from /proc/cpuinfo).
FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "avx512_vnni", "avx512_fp16",
         "avx_vnni", "amx_tile", "amx_bf16", "amx_int8")  # fmt: skip


def _cpuinfo(text: str | None = None) -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo ({} where there is none: macOS, Windows)."""
    if text is None:
        try:
            text = Path("/proc/cpuinfo").read_text()
        except OSError:
            return {}
    fields: dict[str, str] = {}
    for line in text.split("\n\n")[0].splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def _build_line(config: str, needle: str) -> str | None:
    """The line of `torch.__config__.show()` naming a library (MKL, oneDNN), stripped."""
    return next((ln.strip(" -") for ln in config.splitlines() if needle in ln), None)


def machine_info(cpuinfo: str | None = None) -> dict[str, Any]:
    """CPU model, cores, relevant ISA flags, torch's kernel build and thread settings."""
    cpu = _cpuinfo(cpuinfo)
    flags = set(cpu.get("flags", "").split())
    config = torch.__config__.show()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu_model": cpu.get("model name") or platform.processor() or platform.machine(),
        "cpu_family_model_stepping": [cpu.get(k) for k in ("cpu family", "model", "stepping")],
        "cores": cores,
        "flags": [f for f in FLAGS if f in flags],
        "torch": torch.__version__,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkl": _build_line(config, "Math Kernel Library"),
        "onednn": _build_line(config, "MKL-DNN") or _build_line(config, "oneDNN"),
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "platform": platform.platform(),
        # 1/5/15-minute load when the result was written: on a shared machine, how loaded timings were
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def machine_key(info: dict[str, Any] | None = None) -> str:
    """A short name that separates CPUs with different speed, e.g.
    ``"AMD EPYC (family 25 model 17), 2 cores, AVX-512 +BF16 +VNNI"``.

    Virtual machines often report a bare "AMD EPYC", so the family/model numbers stay in the key.
    """
    info = info or machine_info()
    flags = set(info["flags"])
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    isa += "".join(f" +{name}" for flag, name in (("avx512_bf16", "BF16"), ("avx512_vnni", "VNNI"),
                                                  ("amx_tile", "AMX")) if flag in flags)  # fmt: skip
    family, model, _ = info["cpu_family_model_stepping"]
    fm = f" (family {family} model {model})" if family and model else ""
    return f"{info['cpu_model']}{fm}, {info['cores']} cores, {isa}"


def _keyed(path: Path) -> dict[str, Any]:
    """The file at `path` in the keyed layout (legacy content moved under `LEGACY_KEY`)."""
    if not path.is_file():
        return {"layout": LAYOUT, "machines": {}}
    data = json.loads(path.read_text())
    if isinstance(data, dict) and isinstance(data.get("machines"), dict) and "layout" in data:
        return data
    return {"layout": LAYOUT, "machines": {LEGACY_KEY: data}}


def migrate(path: str | os.PathLike) -> bool:
    """Rewrite a pre-machine-info result file in the keyed layout; False if it already was."""
    path = Path(path)
    keyed = _keyed(path)
    if keyed == json.loads(path.read_text()):
        return False
    fs.write_json(path, keyed)
    return True


def write_result(path: str | os.PathLike, result: dict[str, Any], *, info: dict | None = None) -> Path:
    """Store `result` as this machine's entry of `path` (atomically), keeping every other entry."""
    path = Path(path)
    info = info or machine_info()
    keyed = _keyed(path)
    keyed["machines"][machine_key(info)] = {**result, "machine": info}
    return fs.write_json(path, keyed)


def read_result(path: str | os.PathLike, *, info: dict | None = None) -> dict[str, Any]:
    """This machine's entry of `path` ({} when the file or the entry is missing)."""
    path = Path(path)
    entry = _keyed(path)["machines"].get(machine_key(info or machine_info()), {})
    return {k: v for k, v in entry.items() if k != "machine"}
