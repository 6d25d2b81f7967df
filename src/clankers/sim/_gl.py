"""Kept for imports of ``clankers.sim._gl``: the backend choice lives in :mod:`clankers._gl`, which
``import clankers`` runs before anything can import MuJoCo."""

from __future__ import annotations

from clankers._gl import backend_hint, choose_headless_backend

choose_headless_backend()

__all__ = ["backend_hint", "choose_headless_backend"]
