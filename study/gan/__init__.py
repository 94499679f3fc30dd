"""The GAN science, with no Ray import below it: the trial config, datasets, models, losses,
penalties, normalizers, metrics and the trial (train, evaluate, report through a callback)."""
