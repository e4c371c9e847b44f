"""Model families of the book; each module is one concept."""
