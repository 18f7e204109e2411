"""One received mail, in order: record, classify, extract, validate, file, acknowledge, move."""
