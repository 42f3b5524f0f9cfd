"""Reading labelled data, finding its splits and columns, and checking it before training."""
