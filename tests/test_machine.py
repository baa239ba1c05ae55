"""worldsmith.machine: machine info, and result files keyed by machine (a run on one CPU never
overwrites another CPU's numbers)."""

import json

from worldsmith import machine

EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
stepping\t: 1
flags\t\t: fpu avx avx2 fma avx512f avx512bw avx512vl avx512_bf16 avx512_vnni sha_ni

processor\t: 1
model name\t: other
"""
XEON = EPYC.replace("AMD EPYC", "Intel Xeon").replace("sha_ni", "amx_tile amx_bf16")
AVX2 = EPYC.replace("avx512f avx512bw avx512vl avx512_bf16 avx512_vnni ", "")


def test_machine_info_parses_cpuinfo():
    info = machine.machine_info(EPYC)
    assert info["cpu_model"] == "AMD EPYC"  # the first processor's block only
    assert info["cpu_family_model_stepping"] == ["25", "17", "1"]
    assert info["flags"] == ["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "avx512_vnni"]
    assert info["torch"] and info["torch_threads"] >= 1 and info["cores"] >= 1
    assert machine.machine_key(info).endswith(", AVX-512 +BF16 +VNNI")
    assert machine.machine_key(info).startswith("AMD EPYC (family 25 model 17), ")
    assert machine.machine_key(machine.machine_info(XEON)).endswith("AVX-512 +BF16 +VNNI +AMX")
    assert machine.machine_key(machine.machine_info(AVX2)).endswith("AVX2")
    assert machine.machine_info()["cpu_model"]  # this machine, whatever it is


def test_results_are_kept_per_machine(tmp_path):
    path = tmp_path / "bench.json"
    epyc, xeon = machine.machine_info(EPYC), machine.machine_info(XEON)
    machine.write_result(path, {"speedup": 1.1}, info=epyc)
    machine.write_result(path, {"speedup": 1.5}, info=xeon)
    machine.write_result(path, {"speedup": 1.2}, info=epyc)  # replaces only the EPYC entry
    data = json.loads(path.read_text())
    assert set(data["machines"]) == {machine.machine_key(epyc), machine.machine_key(xeon)}
    assert data["machines"][machine.machine_key(xeon)]["speedup"] == 1.5
    assert data["machines"][machine.machine_key(epyc)]["machine"]["cpu_model"] == "AMD EPYC"
    assert machine.read_result(path, info=epyc) == {"speedup": 1.2}
    assert machine.read_result(tmp_path / "missing.json", info=epyc) == {}


def test_legacy_files_migrate_under_the_unknown_key(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"speedup": 1.44, "machines": "not a table"}))
    assert machine.migrate(path) is True
    assert machine.migrate(path) is False  # already keyed
    machine.write_result(path, {"speedup": 1.1}, info=machine.machine_info(EPYC))
    data = json.loads(path.read_text())
    assert data["machines"][machine.LEGACY_KEY] == {"speedup": 1.44, "machines": "not a table"}
    assert len(data["machines"]) == 2
