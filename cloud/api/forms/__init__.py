"""Form templates: field definitions and the validation of log values against them."""
