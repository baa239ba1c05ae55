"""The main job: digital twins -> curation -> tokenizer -> world model -> guardrails -> evaluation.

``worldsmith demo --out runs/demo`` (what ``make demo`` runs) builds a small world model end to end
on a CPU and writes ``report.html``:

1. **sim** (`data_stages.py`): raw footage of the physics-alignment scenarios (+ a robot pushing
   objects) rendered with MuJoCo, shots joined by cuts, dissolves and fades, with camera moves; plus
   held-out episodes (new seeds) that keep instance masks for evaluation.
2. **curate**: the shot detector finds the boundaries in the footage (scored against the truth) and
   the clip rules cut training clips that hold no transition.
3. **tokenizer** (`model_stages.py`): a tiny causal continuous video tokenizer trained on the clips.
4. **world_model**: a tiny Video2World + Text2World DiT trained on the clips' latents.
5. **refiner**: the context refiner learns to finish the world model's decoded predictions.
6. **predict** (`eval_stages.py`): every held-out caption passes the prompt pre-guard, the model
   predicts the future from the first frames, the video passes the post-guard before it is written.
7. **evaluate**: physics alignment and 3D consistency against simulator ground truth and baselines.
8. **report** (`report.py`): ``report.html`` with videos, tables and curves; a summary in the terminal.

Settings are one small config per stage (`config.py`); every stage writes under its own folder with
a ``done.json``, and a rerun skips stages whose fingerprint is unchanged (`run.py`).
"""

from worldsmith.demo.config import DemoConfig, quick_config
from worldsmith.demo.run import STAGES, fingerprints, run_demo

__all__ = ["STAGES", "DemoConfig", "fingerprints", "quick_config", "run_demo"]
