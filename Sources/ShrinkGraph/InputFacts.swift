/// What sample data says about a model's data inputs: concrete shapes for symbolic dimensions
/// and the values of small integer inputs (a sample rate), for shape inference and costing.
public struct InputFacts: Sendable, Equatable {
    /// Per-sample shapes (the batch axis as 1, or as the model fixes it), by input name.
    public var shapes: [String: [Int]]
    /// Values of small integer inputs, by input name.
    public var values: [String: TensorValue]

    /// Facts as given.
    public init(shapes: [String: [Int]] = [:], values: [String: TensorValue] = [:]) {
        self.shapes = shapes
        self.values = values
    }
}

/// One array of sample data as `Graph.inputFacts` reads it.
public struct SampleArray: Sendable, Equatable {
    /// Its shape (samples first, when it holds several).
    public var shape: [Int]
    /// Its values when it holds integers, else nil.
    public var integers: [Int64]?

    /// An array of `shape`, with `integers` for integer data.
    public init(shape: [Int], integers: [Int64]? = nil) {
        self.shape = shape
        self.integers = integers
    }
}

extension Graph {
    /// The shapes and small integer values of the data inputs, from sample data: each input
    /// from the array of its name, or the first input from `inputKey`. Axis 0 of an array
    /// shaped like the declared input counts as the samples, so its per-sample shape has batch 1
    /// (or the model's fixed batch); an array one axis short is one sample. Integer inputs of
    /// at most 64 values (a sample rate) are taken as values, so conditions on them fold.
    ///
    /// - Throws: `invalidModel` when an array contradicts a fixed dimension of the declaration,
    ///   or when an input whose declaration has symbolic dimensions has no array (naming the
    ///   arrays there are).
    public func inputFacts(_ arrays: [String: SampleArray], inputKey: String = "x") throws(GraphError) -> InputFacts {
        var facts = InputFacts()
        let inputs = dataInputs
        for input in inputs {
            let array = arrays[input.name] ?? (input.name == inputs.first?.name ? arrays[inputKey] : nil)
            guard let array else {
                if input.shape.map({ $0.allSatisfy { $0.fixed != nil } }) == true { continue }
                let names = arrays.keys.sorted().map { "'\($0)'" }.joined(separator: ", ")
                throw GraphError(.invalidModel, "the data has no array for input '\(input.name)' (it has \(names))",
                                 hint: "name the array after the input\(input.name == inputs.first?.name ? " or choose it with --input-key" : "")")
            }
            let isInteger = input.elementType.map { !$0.isFloatingPoint } ?? (array.integers != nil)
            if isInteger, let v = array.integers, v.count <= 64 {
                facts.values[input.name] = .int64(shape: array.shape, values: v)
                continue
            }
            guard let declared = input.shape else {
                facts.shapes[input.name] = array.shape
                continue
            }
            var shape = array.shape
            if shape.count == declared.count - 1 { shape.insert(1, at: 0) }
            guard shape.count == declared.count else {
                throw GraphError(.invalidModel,
                                 "array for input '\(input.name)' has shape \(array.shape); the model declares \(Self.describe(declared))",
                                 hint: "give samples shaped like the declaration (with or without the sample axis)")
            }
            if !shape.isEmpty { shape[0] = declared[0].fixed ?? 1 }
            for (k, d) in declared.enumerated() where k > 0 {
                if let f = d.fixed, f != shape[k] {
                    throw GraphError(.invalidModel,
                                     "array for input '\(input.name)' has shape \(array.shape); the model declares \(Self.describe(declared)) (axis \(k) must be \(f))")
                }
            }
            facts.shapes[input.name] = shape
        }
        return facts
    }

    /// `[N, 3, H, W]`.
    static func describe(_ dims: [Dim]) -> String {
        "[" + dims.map(\.description).joined(separator: ", ") + "]"
    }

    /// A usable `--input-shape` value for `input`: fixed dimensions as declared, the batch as 1,
    /// other symbolic or unknown dimensions as `size` (say 32, which the strides of most CNNs
    /// divide); nil when the rank is unknown.
    public static func exampleShape(_ input: ValueInfo, size: Int = 32) -> String? {
        guard let dims = input.shape else { return nil }
        return dims.enumerated().map { k, d in String(d.fixed ?? (k == 0 ? 1 : size)) }.joined(separator: "x")
    }
}
