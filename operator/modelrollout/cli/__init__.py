"""`kubectl modelrollout`: watch and steer rollouts from a terminal."""
