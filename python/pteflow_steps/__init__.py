"""pteflow_steps: the Python export and check steps that pteflow pipelines run.

Each module is a step, run as `python -m pteflow_steps.<step> --help`:
export_llm, export_module, export_encoder, export_lora, check, make_checkpoint.
"""

__version__ = "0.1.0"
