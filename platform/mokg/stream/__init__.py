"""Continuous mode for reviews: batches streamed through the workers, the graph updated around each batch,
and new users embedded by the trained model without a retrain."""
