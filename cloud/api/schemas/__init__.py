"""Request and response models, one module per entity (XCreate, XUpdate, XPublic, XsPublic)."""
