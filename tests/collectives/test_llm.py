"""Model descriptions: built-ins, HF config.json and YAML loaders, parameter estimates."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectives.llm import builtin_models, known_models, load_model, model_from_config

HF = Path(__file__).resolve().parents[1] / "data" / "hf_configs"
TOML_PUBLISHED = {
    # model cards' headline parameter counts (collectives/data/models.toml, params_*_published)
    "llama-3.1-8b": (8.03e9, 8.03e9),
    "llama-3.1-70b": (70.6e9, 70.6e9),
    "llama-3.1-405b": (405.9e9, 405.9e9),
    "qwen2.5-7b": (7.61e9, 7.61e9),
    "qwen3-235b-a22b": (235e9, 22e9),
    "mixtral-8x7b": (46.7e9, 12.9e9),
    "deepseek-v3": (671e9, 37e9),
    "llama-4-scout": (109e9, 17e9),
}


def _arch(model):
    """The description without its names (what a config file must reproduce)."""
    names = ("key", "name", "source")
    return {k: v for k, v in dataclasses.asdict(model).items() if k not in names}


def test_builtins_are_the_eight_named_models():
    assert known_models() == sorted(TOML_PUBLISHED)
    for model in builtin_models().values():
        assert model.source, model.key


@pytest.mark.parametrize(
    "key, layers, heads, kv_heads, head_dim, kind",
    [
        # from each model's config.json (layers, q heads, KV heads, head dim)
        ("llama-3.1-8b", 32, 32, 8, 128, "GQA"),
        ("llama-3.1-70b", 80, 64, 8, 128, "GQA"),
        ("llama-3.1-405b", 126, 128, 8, 128, "GQA"),
        ("qwen2.5-7b", 28, 28, 4, 128, "GQA"),
        ("qwen3-235b-a22b", 94, 64, 4, 128, "GQA"),
        ("mixtral-8x7b", 32, 32, 8, 128, "GQA"),
        ("deepseek-v3", 61, 128, 128, 192, "MLA"),
        ("llama-4-scout", 48, 40, 8, 128, "GQA+chunked"),
    ],
)
def test_builtin_architecture(key, layers, heads, kv_heads, head_dim, kind):
    m = load_model(key)
    assert (m.num_layers, m.num_attention_heads, m.num_kv_heads, m.head_dim) == (
        layers, heads, kv_heads, head_dim)
    assert m.attention_kind == kind


def test_deepseek_mla_latent_is_576_elements():
    # DeepSeek-V3 config.json: kv_lora_rank + qk_rope_head_dim = 512 + 64
    m = load_model("deepseek-v3")
    assert (m.kv_lora_rank, m.qk_rope_head_dim, m.kv_elements_per_token) == (512, 64, 576)


def test_scout_has_12_global_and_36_chunked_layers():
    # Llama-4-Scout config.json: every 4th layer global (no_rope_layer_interval = 4)
    m = load_model("llama-4-scout")
    assert m.num_global_layers == 12 and m.num_local_layers == 36
    full = [i for i, t in enumerate(m.layer_types) if t == "full_attention"]
    assert full == list(range(3, 48, 4))
    assert set(m.layer_windows_tokens) == {0, 8192}


@pytest.mark.parametrize("key", sorted(TOML_PUBLISHED))
def test_parameter_estimate_matches_model_card(key):
    # published totals / actives of the model cards (models.toml); estimate within 2%
    m = load_model(key)
    total, active = TOML_PUBLISHED[key]
    assert m.num_params_total == pytest.approx(total, rel=0.02)
    assert m.num_params_active == pytest.approx(active, rel=0.02)


def test_scout_active_nonembedding_is_15_1e9():
    # derived from config.json: 15.1B active non-embedding parameters
    m = load_model("llama-4-scout")
    assert m.num_params_active_nonembedding == pytest.approx(15.1e9, rel=0.01)


@pytest.mark.parametrize("name", ["llama-3.1-70b", "deepseek-v3", "llama-4-scout", "qwen2.5-7b"])
def test_hf_config_gives_the_builtin(name):
    from_file = load_model(HF / f"{name}.json")
    assert _arch(from_file) == _arch(load_model(name))
    assert from_file.source == str(HF / f"{name}.json")


@pytest.mark.parametrize("alias", ["LLAMA-3.1-70B", "meta-llama/Llama-3.1-70B", "Llama-3.1-70B"])
def test_aliases(alias):
    assert load_model(alias).key == "llama-3.1-70b"


def test_unknown_model_lists_known():
    with pytest.raises(ValueError, match="unknown model 'gpt-9'; known models: deepseek-v3, "):
        load_model("gpt-9")


def test_yaml_of_the_same_fields(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text("num_hidden_layers: 4\nnum_attention_heads: 8\nnum_key_value_heads: 2\n"
                    "hidden_size: 512\nsliding_window: 1024\ntorch_dtype: float16\n"
                    "num_params_active: 1.0e8\n")
    m = load_model(path)
    assert (m.key, m.head_dim, m.kv_dtype, m.num_local_layers) == ("tiny", 64, "fp16", 4)
    assert m.kv_elements_per_token == 2 * 2 * 64
    assert m.num_params_active == 1e8


def test_mha_default_and_derived_head_dim():
    # HF convention: no num_key_value_heads means one KV head per attention head (MHA)
    m = model_from_config({"num_hidden_layers": 32, "num_attention_heads": 32, "hidden_size": 4096},
                          key="llama-2-7b-like")
    assert m.attention_kind == "MHA" and m.head_dim == 128 and m.num_params_total is None


def test_layer_types_field():
    m = model_from_config({"num_hidden_layers": 4, "num_attention_heads": 8, "hidden_size": 512,
                           "sliding_window": 128,
                           "layer_types": ["sliding_attention", "full_attention"] * 2},
                          key="gptoss")
    assert m.layer_windows_tokens == (128, 0, 128, 0)
    assert m.attention_kind == "MHA+sliding"


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", r"bad\.json: not valid JSON: .* line 1"),
        ("[1, 2]", r"bad\.json: expected a mapping"),
        ('{"num_attention_heads": 8, "hidden_size": 64}',
         r"bad\.json: field 'num_hidden_layers' is missing"),
        ('{"num_hidden_layers": "x", "num_attention_heads": 8, "hidden_size": 64}',
         r"bad\.json: field 'num_hidden_layers' must be an integer"),
        ('{"num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 3, '
         '"hidden_size": 64}',
         r"bad\.json: .*num_kv_heads must divide"),
        ('{"num_hidden_layers": 2, "num_attention_heads": 8, "hidden_size": 64, '
         '"layer_types": ["linear_attention", "full_attention"]}',
         r"bad\.json: field 'layer_types' has 'linear_attention'"),
        ('{"num_hidden_layers": 2, "num_attention_heads": 8, "hidden_size": 64, '
         '"torch_dtype": "float64"}',
         r"bad\.json: field 'torch_dtype'"),
    ],
)
def test_malformed_config_is_one_line(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        load_model(path)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="cannot read model file"):
        load_model(tmp_path / "nope.json")


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["num_hidden_layers", "num_attention_heads", "hidden_size",
                                        "num_key_value_heads", "head_dim", "kv_lora_rank",
                                        "sliding_window", "layer_types", "torch_dtype",
                                        "attention_chunk_size", "no_rope_layers", "text_config"]),
                       st.one_of(st.integers(-3, 300), st.text(max_size=5), st.none(),
                                 st.lists(st.integers(0, 2), max_size=4), st.floats())))
def test_garbage_configs_raise_value_error_only(fields):
    try:
        model_from_config(fields, key="g")
    except ValueError as err:
        assert str(err) and "\n" not in str(err)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60))
def test_garbage_files_raise_value_error_only(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("g") / "config.json"
    path.write_text(text)
    try:
        load_model(path)
    except ValueError:
        pass


def test_hf_config_files_are_valid_json():
    for path in HF.glob("*.json"):
        assert isinstance(json.loads(path.read_text()), dict)


# ------------------------------------------------------------ hostile files (issue 12, 2 and 3)


def _alias_bomb(depth: int = 9, width: int = 9) -> str:
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, depth)]
    return "\n".join(lines) + f"\nname: *a{depth - 1}\nnum_hidden_layers: *a{depth - 1}\n"


def test_a_yaml_alias_bomb_is_refused_before_any_field_is_read(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb())  # 9^9 = 387 million strings once expanded
    with pytest.raises(ValueError, match=r"bomb\.yaml: more than 100,000 values"):
        load_model(path)


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000,
                                  '{"a": ' * 100 + "1" + "}" * 100])
def test_deep_nesting_is_refused_in_one_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "deep.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"deep\.json: (not valid JSON: nested too deeply|nested "
                                         r"deeper than 64 levels)"):
        load_model(path)


def test_a_real_config_is_far_under_the_limits() -> None:
    from collectives.llm import MAX_CONFIG_VALUES, _check_config_size

    path = Path(__file__).resolve().parents[1] / "data" / "hf_configs" / "deepseek-v3.json"
    data = json.loads(path.read_text())
    _check_config_size(path, data)  # no error
    assert len(json.dumps(data)) < MAX_CONFIG_VALUES
