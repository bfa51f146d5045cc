/// Finds which of many needles occur in a text in a single pass, ignoring ASCII case (an Aho–Corasick automaton).
///
/// Each needle carries a bit; `scan` returns the union of the bits of every needle found. The automaton is built
/// once, so scanning costs one table step per byte however many needles there are, and never allocates.
struct NeedleScanner: Sendable {
    /// Every byte maps to a small class number; bytes that occur in no needle share class 0.
    private let byteClass: [UInt8]
    private let classCount: Int
    /// `transitions[row + class]` is the next state's row, `state * classCount`, with `foundFlag` set when the
    /// state ends a needle. Storing rows rather than state numbers saves a multiplication per byte.
    private let transitions: [UInt32]
    /// The bits of every needle that ends at a state, including the needles that are suffixes of it.
    private let found: [UInt64]

    /// - Parameter needles: ASCII text and the bit (0–63) it sets; upper and lower case are the same.
    init(_ needles: [(text: String, bit: Int)]) {
        var byteClass = [UInt8](repeating: 0, count: 256)
        var classCount = 1
        for (text, _) in needles {
            for byte in text.utf8 {
                precondition(byte < 0x80, "needles are ASCII")
                let lower = Self.lowercased(byte)
                if byteClass[Int(lower)] == 0 {
                    byteClass[Int(lower)] = UInt8(classCount)
                    classCount += 1
                }
            }
        }
        for upper in UInt8(ascii: "A")...UInt8(ascii: "Z") { byteClass[Int(upper)] = byteClass[Int(upper | 0x20)] }

        // The trie: one row of `classCount` next states per state, -1 where there is no child yet.
        var rows: [[Int]] = [[Int](repeating: -1, count: classCount)]
        var found: [UInt64] = [0]
        for (text, bit) in needles {
            precondition((0..<64).contains(bit))
            var state = 0
            for byte in text.utf8 {
                let cls = Int(byteClass[Int(byte)])
                if rows[state][cls] < 0 {
                    rows.append([Int](repeating: -1, count: classCount))
                    found.append(0)
                    rows[state][cls] = rows.count - 1
                }
                state = rows[state][cls]
            }
            found[state] |= 1 << UInt64(bit)
        }
        precondition(rows.count * classCount < Int(Self.foundFlag))

        // Breadth first, so a state's fallback (the longest proper suffix that is also in the trie) is complete
        // before the state itself: missing edges borrow the fallback's, and found bits are inherited from it.
        var fallback = [Int](repeating: 0, count: rows.count)
        var queue: [Int] = []
        for cls in 0..<classCount {
            if rows[0][cls] < 0 { rows[0][cls] = 0 } else { queue.append(rows[0][cls]) }
        }
        var head = 0
        while head < queue.count {
            let state = queue[head]
            head += 1
            for cls in 0..<classCount {
                let child = rows[state][cls]
                if child < 0 {
                    rows[state][cls] = rows[fallback[state]][cls]
                } else {
                    fallback[child] = rows[fallback[state]][cls]
                    found[child] |= found[fallback[child]]
                    queue.append(child)
                }
            }
        }

        self.byteClass = byteClass
        self.classCount = classCount
        self.transitions = rows.flatMap { row in
            row.map { UInt32($0 * classCount) | (found[$0] == 0 ? 0 : Self.foundFlag) }
        }
        self.found = found
    }

    func scan(_ text: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var result: UInt64 = 0
        var row = 0
        byteClass.withUnsafeBufferPointer { classes in
            transitions.withUnsafeBufferPointer { next in
                found.withUnsafeBufferPointer { bits in
                    for byte in text {
                        let entry = next[row &+ Int(classes[Int(byte)])]
                        row = Int(entry & ~Self.foundFlag)
                        if entry & Self.foundFlag != 0 { result |= bits[row / classCount] }
                    }
                }
            }
        }
        return result
    }

    private static let foundFlag: UInt32 = 1 << 31

    private static func lowercased(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
    }
}
