"""The application: the Session and the features (completion, actions, commands), plain types only."""
