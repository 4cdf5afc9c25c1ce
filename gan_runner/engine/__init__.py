"""The engine that trains one run: the typed train config, the parts built from a config, the training
state, the step, the loop and its periodic tasks, resume, several processes."""
