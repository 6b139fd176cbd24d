"""Pipeline stages. Each is found by name in ``edgecv.registry`` and runs as ``Stage.run(ctx, current, folder)``."""
