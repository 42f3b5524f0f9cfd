"""The configuration: the dataclass sections of a run (sections.py) and the options of the other verbs (verbs.py),
each the single source of its defaults and the checks of its values, and configs read from dicts and YAML files
(files.py)."""

from tunecard.config.files import (as_config, check_config, checked_value, config_from_dict, config_to_dict,
                                   expected_value, load_config, read_config_file, save_config, yaml_problem)
from tunecard.config.sections import (AUTO_EPOCHS, AUTO_EPOCHS_CAP, AUTO_PATIENCE, AbstainConfig, Config,
                                      DataConfig, DiagnosticsConfig, DistillConfig, LlmConfig, LoraConfig,
                                      ModelConfig, RetrievalConfig, TrainConfig)
from tunecard.config.verbs import IndexConfig, ServeConfig, TuneConfig

__all__ = ["AUTO_EPOCHS", "AUTO_EPOCHS_CAP", "AUTO_PATIENCE", "AbstainConfig", "Config", "DataConfig",
           "DiagnosticsConfig", "DistillConfig", "IndexConfig", "LlmConfig", "LoraConfig", "ModelConfig",
           "RetrievalConfig", "ServeConfig", "TrainConfig", "TuneConfig", "as_config",
           "check_config", "checked_value", "config_from_dict", "config_to_dict", "expected_value", "load_config",
           "read_config_file", "save_config", "yaml_problem"]
