"""The site seen from Home Assistant: balancing and solar options, meters, entities."""
