"""One render from bytes to files: read, plan, render; reads CA and certificate files through io."""
