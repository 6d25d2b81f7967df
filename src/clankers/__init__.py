"""clankers: robot learning from a URDF to a deployed ONNX policy."""
