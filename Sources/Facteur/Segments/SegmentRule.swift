import Foundation

/// A segment's rule tree, in the form the API stores and exchanges (see `SegmentRule+JSON`):
/// `{"and": […]}`, `{"or": […]}`, `{"not": {…}}` over leaves.
///
/// This is the validated model the compiler and the reference evaluator work from; every value in
/// it has been checked against its field's type, so neither needs to check again.
public indirect enum SegmentRule: Sendable, Equatable {
    case and([SegmentRule])
    case or([SegmentRule])
    case not(SegmentRule)
    /// A subscriber field, built-in (`email`, `domain`, `status`, `locale`, `created_at`, `score` …)
    /// or registered (`fields`).
    case field(Condition)
    /// A field of the subscriber's company (`industry`, `naics`, `employees`, `revenue`, `region` …).
    case company(Condition)
    case topic(key: String, state: TopicState)
    case activity(Activity)
    case event(Event)
    case technographic(Technographic)
    /// Members of another segment (cycles are refused when segments are saved).
    case segment(Int64)

    /// `field op value`, the value already checked against the field's type.
    public struct Condition: Sendable, Equatable {
        public var field: String
        public var type: FieldType
        public var op: Operator
        public var value: Value

        public init(field: String, type: FieldType, op: Operator, value: Value) {
            self.field = field
            self.type = type
            self.op = op
            self.value = value
        }
    }

    public enum FieldType: String, Sendable, Equatable {
        case text, number, boolean, date
    }

    /// The operators of property filters (`PropertyFilter.Operator`), the same for fields.
    public typealias Operator = PropertyFilter.Operator

    /// A checked comparison value. Text compares without regard to case.
    public enum Value: Sendable, Equatable {
        case none
        case text(String)
        case texts([String])
        case number(Double)
        case numbers([Double])
        case bool(Bool)
        case date(DateValue)
        case dateRange(DateValue, DateValue)
        case numberRange(Double, Double)
    }

    /// An absolute instant, or one relative to when the segment is evaluated (`-30d`).
    public enum DateValue: Sendable, Equatable {
        case absolute(Date)
        /// Seconds from now (negative: in the past).
        case relative(seconds: Int64, text: String)
    }

    public enum TopicState: String, Sendable, Equatable, CaseIterable {
        case subscribed, unsubscribed
        /// No choice ever recorded for the topic.
        case never
    }

    /// Email activity: "opened in the last 30 days", "clicked link X of campaign 12", "received
    /// the last 3 campaigns" (with `count`), "bounced".
    public struct Activity: Sendable, Equatable {
        public enum Kind: String, Sendable, Equatable, CaseIterable {
            case opened, clicked, received, bounced, unsubscribed, complained
        }
        public var kind: Kind
        public var campaign: Int64?
        /// Any of the last N campaigns sent (started).
        public var lastCampaigns: Int?
        /// For `clicked`: the link's URL, `*` matching any run of characters.
        public var link: String?
        public var window: Window?
        public var count: CountBound
        /// Opens and clicks by privacy proxies and scanners count too (default: people only).
        public var includeMachine: Bool

        public init(
            kind: Kind, campaign: Int64? = nil, lastCampaigns: Int? = nil, link: String? = nil, window: Window? = nil,
            count: CountBound = .atLeastOne, includeMachine: Bool = false
        ) {
            self.kind = kind
            self.campaign = campaign
            self.lastCampaigns = lastCampaigns
            self.link = link
            self.window = window
            self.count = count
            self.includeMachine = includeMachine
        }
    }

    /// A custom event: name, property filters, window, count, and optionally an aggregate of a
    /// numeric property ("`purchase` amount summed over 365 days ≥ 1000").
    public struct Event: Sendable, Equatable {
        public var name: String
        public var filters: [PropertyFilter]
        public var window: Window?
        public var count: CountBound
        public var aggregate: Aggregate?

        public init(
            name: String, filters: [PropertyFilter] = [], window: Window? = nil, count: CountBound = .atLeastOne,
            aggregate: Aggregate? = nil
        ) {
            self.name = name
            self.filters = filters
            self.window = window
            self.count = count
            self.aggregate = aggregate
        }
    }

    public struct Aggregate: Sendable, Equatable {
        public enum Function: String, Sendable, Equatable, CaseIterable {
            case sum, avg, min, max
        }
        public var function: Function
        public var property: String
        public var op: Operator
        /// `.number` or, for `between`, `.numberRange`.
        public var value: Value

        public init(function: Function, property: String, op: Operator, value: Value) {
            self.function = function
            self.property = property
            self.op = op
            self.value = value
        }
    }

    /// Opened or clicked on a device class or in a mail client; `mostly`: that is the person's
    /// most used one (from the engagement rollup).
    public struct Technographic: Sendable, Equatable {
        public enum Dimension: String, Sendable, Equatable {
            case device, client
        }
        public var dimension: Dimension
        public var value: String
        public var mostly: Bool
        public var window: Window?

        public init(dimension: Dimension, value: String, mostly: Bool = false, window: Window? = nil) {
            self.dimension = dimension
            self.value = value
            self.mostly = mostly
            self.window = window
        }
    }

    /// When the activity must have happened.
    public enum Window: Sendable, Equatable {
        /// The last N seconds (`"30d"`), kept with its text.
        case last(seconds: Int64, text: String)
        /// From and/or to (to excluded).
        case between(from: Date?, to: Date?)
    }

    /// How many times: at least, at most, exactly (`{"eq": 0}`: never).
    public struct CountBound: Sendable, Equatable {
        public var min: Int?
        public var max: Int?

        public init(min: Int? = nil, max: Int? = nil) {
            self.min = min
            self.max = max
        }

        public static let atLeastOne = CountBound(min: 1)

        public func contains(_ count: Int) -> Bool {
            (min.map { count >= $0 } ?? true) && (max.map { count <= $0 } ?? true)
        }
    }

    /// Leaves in the tree (the API refuses more than `SegmentLimits.maxLeaves`).
    public var leafCount: Int {
        switch self {
        case .and(let children), .or(let children): children.reduce(0) { $0 + $1.leafCount }
        case .not(let child): child.leafCount
        default: 1
        }
    }

    /// Nesting depth: a leaf is 1.
    public var depth: Int {
        switch self {
        case .and(let children), .or(let children): 1 + (children.map(\.depth).max() ?? 0)
        case .not(let child): 1 + child.depth
        default: 1
        }
    }

    /// The segments this one refers to, for cycle checks.
    public var referencedSegments: Set<Int64> {
        switch self {
        case .and(let children), .or(let children): children.reduce(into: []) { $0.formUnion($1.referencedSegments) }
        case .not(let child): child.referencedSegments
        case .segment(let id): [id]
        default: []
        }
    }
}

public enum SegmentLimits {
    public static let maxDepth = 20
    public static let maxLeaves = 200
}

/// What a rule tree may name: the built-in subscriber and company fields, and the registered ones.
public struct SegmentSchema: Sendable {
    public var fields: [String: SegmentRule.FieldType]
    public var companyFields: [String: SegmentRule.FieldType]

    public static let builtInFields: [String: SegmentRule.FieldType] = [
        "email": .text, "domain": .text, "name": .text, "status": .text, "locale": .text, "timezone": .text, "frequency": .text,
        "created_at": .date, "confirmed_at": .date, "paused_until": .date, "score": .number,
    ]

    public static let builtInCompanyFields: [String: SegmentRule.FieldType] = [
        "name": .text, "domain": .text, "industry": .text, "naics": .text, "employees": .number, "revenue": .number,
        "region": .text,
    ]

    /// The built-ins and the registered custom fields (`FieldRegistry`).
    public init(customFields: [Field] = []) {
        var fields = Self.builtInFields
        for field in customFields {
            fields[field.key] = SegmentRule.FieldType(rawValue: field.type.rawValue) ?? .text
        }
        self.fields = fields
        self.companyFields = Self.builtInCompanyFields
    }
}

extension PropertyFilter.Operator {
    /// What each type of segment field can be compared with.
    public static func allowed(for type: SegmentRule.FieldType) -> [Self] {
        switch type {
        case .text: [.eq, .ne, .in, .notIn, .contains, .startsWith, .endsWith, .exists, .notExists]
        case .number: [.eq, .ne, .in, .notIn, .gt, .gte, .lt, .lte, .between, .exists, .notExists]
        case .boolean: [.eq, .ne, .exists, .notExists]
        case .date: [.gt, .gte, .lt, .lte, .between, .exists, .notExists]
        }
    }
}
