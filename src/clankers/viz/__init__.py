"""Looking at runs after the fact: replays of recordings, the browser viewer, datasets, trajectory plots.

Sits above :mod:`clankers.envs` (it rebuilds tasks to replay them) and uses the ``viz`` extra
(imageio-ffmpeg, viser, pyarrow). Pictures themselves come from :mod:`clankers.render`.
"""
