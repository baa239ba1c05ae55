"""Planning with a world model: model-predictive control (CEM, MPPI) on the robot twins, goals and
costs, and policy evaluation inside the model (issue 25). See docs/plan.md."""
