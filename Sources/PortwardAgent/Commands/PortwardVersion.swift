/// portward's version, as packaged (packaging/debian/changelog, packaging/rpm/portward.spec).
public enum PortwardVersion {
    public static let current = "0.1.0"
}
