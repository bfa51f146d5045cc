public enum FacteurPlaceholder {}
