"""Quality figures: metrics, evaluation reports, the project's own classifier, mode reading, benchmarks."""
