"""What users see: travel, groups and further catalogues, each built on shared.engine."""
