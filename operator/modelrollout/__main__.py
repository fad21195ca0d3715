"""`python -m modelrollout`: run the operator against the current kubeconfig."""

from modelrollout.handlers.main import main

if __name__ == "__main__":
    raise SystemExit(main())
