"""Guards on the package's shape: dependency direction and lazy, light imports."""

import subprocess
import sys


def _modules_after(statement: str) -> set:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(result.stdout.split())


def test_library_never_imports_training():
    loaded = _modules_after("import i2imetric; i2imetric.create_metric; import i2imetric.cli, i2imetric.evaluation")
    assert "i2imetric" in loaded and "i2imetric.models.factory" in loaded
    assert not any(name.split(".")[0] in ("training", "i2imetric_training") for name in loaded)


def test_plain_import_is_light():
    loaded = _modules_after("import i2imetric")
    assert "torch" not in loaded and "open_clip" not in loaded


def test_public_names_resolve():
    import i2imetric

    for name in i2imetric.__all__:
        assert getattr(i2imetric, name) is not None
