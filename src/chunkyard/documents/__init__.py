"""Documents: upload files into a collection, list, read and delete them."""
