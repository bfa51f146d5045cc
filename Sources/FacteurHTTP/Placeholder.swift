public enum FacteurHTTPPlaceholder {}
