"""What may leave the machine: the exclusion gate, secret redaction, invisible characters, data fences."""
