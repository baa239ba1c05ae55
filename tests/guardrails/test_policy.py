"""Guard policy: presets, per-guard thresholds and allowlisted phrases; relaxations are recorded with
who set them; nothing in a policy switches a guard off; generating runs record it in run.json."""

from __future__ import annotations

import pytest

from worldsmith.guardrails.base import GuardrailError
from worldsmith.guardrails.pipeline import default_pipeline, guard_record
from worldsmith.guardrails.policy import PRESETS, GuardPolicy, load_policy


def _pipeline(policy):
    return default_pipeline(video_safety=True, face_blur=False, policy=policy)


def test_presets_order_the_thresholds():
    strict, default, research = (_pipeline(GuardPolicy(preset=p)) for p in ("strict", "default", "research"))
    cls = [p.pre_guards[1].threshold for p in (strict, default, research)]
    video = [p.post_guards[0].threshold for p in (strict, default, research)]
    frames = [p.post_guards[0].min_unsafe_frames for p in (strict, default, research)]
    assert cls[0] < cls[1] < cls[2] and video[0] < video[1] < video[2] and frames[0] < frames[1] < frames[2]
    assert set(PRESETS) == {"strict", "default", "research"}
    assert _pipeline(GuardPolicy()).policy_record()["relaxations"] == []
    assert (
        _pipeline(GuardPolicy(preset="strict")).policy_record()["relaxations"] == []
    )  # stricter is no relaxation


def test_relaxations_are_recorded_with_who(monkeypatch, tmp_path):
    monkeypatch.setenv("USER", "alice")
    record = _pipeline(GuardPolicy(preset="research")).policy_record()
    assert record["set_by"] == "alice" and any("research" in r for r in record["relaxations"])
    assert any("classifier threshold 0.97" in r for r in record["relaxations"])
    f = tmp_path / "policy.yaml"
    f.write_text(
        "preset: default\nclassifier_threshold: 0.99\nallow: [demolition bomb]\nset_by: safety team\n"
    )
    policy = load_policy(f)
    record = _pipeline(policy).policy_record()
    assert record["set_by"] == "safety team" and record["source"] == str(f)
    assert "allowlisted phrase 'demolition bomb'" in record["relaxations"]
    assert record["classifier_threshold"] == 0.99 and record["pre_guards"] == ["blocklist", "classifier"]
    assert _pipeline(policy).pre_guards[0].check("a demolition bomb test on a quarry wall").ok
    assert not _pipeline(policy).pre_guards[0].check("a bomb on a bus").ok


def test_policy_cannot_switch_a_guard_off(tmp_path):
    for bad in ("classifier_threshold: 1.0", "classifier_threshold: 0", "video_min_frames: 0",
                "blocklist_off: true", "classifier: false", "preset: off"):  # fmt: skip
        f = tmp_path / "p.yaml"
        f.write_text(bad + "\n")
        with pytest.raises(GuardrailError, match="p.yaml|switched off|preset"):
            load_policy(f)
    with pytest.raises(GuardrailError, match="neither a preset"):
        load_policy(tmp_path / "missing.yaml")
    assert load_policy("strict").preset == "strict" and load_policy(None) == GuardPolicy()


def test_guard_off_is_recorded_as_a_relaxation(monkeypatch):
    monkeypatch.setenv("USER", "bob")
    record = guard_record("none", None)
    assert record["set_by"] == "bob" and record["pre_guards"] == [] and "off" in record["relaxations"][0]
    pipe = default_pipeline(classifier=False, video_safety=False, face_blur=False, policy=GuardPolicy())
    blocklist_only = guard_record("blocklist", pipe)
    assert blocklist_only["relaxations"][0].startswith("guard set 'blocklist'")


def test_environment_names_the_deployers_policy(monkeypatch, capsys):
    monkeypatch.setenv("WORLDSMITH_GUARD_POLICY", "research")
    monkeypatch.setenv("USER", "carol")
    pipe = default_pipeline(video_safety=False, face_blur=False)
    assert pipe.policy.preset == "research" and pipe.pre_guards[1].threshold == 0.97
    err = " ".join(capsys.readouterr().err.split())
    assert "relaxes the default, set by carol" in err and "classifier threshold 0.97" in err
