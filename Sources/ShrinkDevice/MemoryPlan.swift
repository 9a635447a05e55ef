/// How a tensor's elements are ordered in device memory.
public enum Storage: Sendable, Codable, Equatable, Hashable {
    /// ONNX order (vectors, and maps with one channel or one pixel, where both orders agree).
    case onnx
    /// A feature map stored channels last (HWC), as CMSIS-NN wants it.
    case channelsLast(c: Int, h: Int, w: Int)
    /// A vector flattened from a channels-last map without moving it: the fully connected layer
    /// reading it has its weight columns permuted at export instead.
    case flattenedChannelsLast(c: Int, h: Int, w: Int)

    /// The storage of a fresh map of `tensor`'s shape.
    static func natural(_ tensor: DeviceTensor) -> Storage {
        guard let (c, h, w) = tensor.chw, c > 1, h * w > 1 else { return .onnx }
        return .channelsLast(c: c, h: h, w: w)
    }

    /// The map dimensions when the stored order differs from ONNX order.
    var permutedMap: (c: Int, h: Int, w: Int)? {
        switch self {
        case .onnx: nil
        case .channelsLast(let c, let h, let w), .flattenedChannelsLast(let c, let h, let w): (c, h, w)
        }
    }
}

/// Where every activation lives on the device: the storage order of each tensor, which
/// reshapes are free (aliases), and each buffer's offset in the one static arena.
///
/// Buffers whose lifetimes overlap never share bytes; the others are packed greedily, largest
/// first, at the lowest offset that fits (TFLite Micro's greedy planner). Offsets are multiples of 4.
public struct MemoryPlan: Sendable, Codable, Equatable {
    /// Storage order by tensor name.
    public var storage: [String: Storage]
    /// Byte offset in the arena by tensor name (aliases share their source's offset).
    public var offsets: [String: Int]
    /// Indices of the reshape layers that move no data.
    public var aliases: Set<Int>
    /// The arena's size in bytes.
    public var arenaBytes: Int

    /// Plans `model`.
    public init(_ model: DeviceModel) {
        self.init(layers: model.layerSummaries, tensors: model.tensors, input: model.input, output: model.output,
                  elementSize: model.elementSize)
    }

    /// Plans a model given by its structure: what the plan depends on, so that a search can plan
    /// the int8 library of a float graph without quantising it.
    public init(layers: [LayerSummary], tensors: [String: DeviceTensor], input: DeviceTensor, output: DeviceTensor,
                elementSize: Int) {
        let model = (input: input, output: output, elementSize: elementSize)
        var storage = [String: Storage]()
        storage[model.input.name] = .natural(model.input)
        var consumers = [String: [Int]]()
        for (k, l) in layers.enumerated() { for i in l.inputs { consumers[i, default: []].append(k) } }
        var aliases = Set<Int>()
        for (k, l) in layers.enumerated() {
            let out = tensors[l.output]!
            let source = storage[l.inputs[0]] ?? .onnx
            switch l.kernel {
            case .reshape:
                let readers = consumers[l.output] ?? []
                let onlyFullyConnected = readers.allSatisfy { layers[$0].kernel == .fullyConnected }
                switch source {
                case .onnx:
                    aliases.insert(k)
                    storage[l.output] = .onnx
                case .channelsLast(let c, let h, let w), .flattenedChannelsLast(let c, let h, let w):
                    if onlyFullyConnected && out.shape.count == 1 {
                        aliases.insert(k)
                        storage[l.output] = .flattenedChannelsLast(c: c, h: h, w: w)
                    } else {
                        storage[l.output] = .onnx     // a reorder copy
                    }
                }
            case .add, .clamp, .lookup, .mul:
                storage[l.output] = source
            default:
                storage[l.output] = .natural(out)
            }
        }

        // Buffers: one per tensor that is not an alias.
        var bufferOf = [String: Int]()
        var sizes = [Int](), first = [Int](), last = [Int]()
        func newBuffer(_ t: String, at k: Int) {
            bufferOf[t] = sizes.count
            let bytes = tensors[t]!.count * model.elementSize
            sizes.append((bytes + 3) / 4 * 4)
            first.append(k)
            last.append(k)
        }
        newBuffer(model.input.name, at: -1)
        for (k, l) in layers.enumerated() {
            for i in l.inputs { last[bufferOf[i]!] = max(last[bufferOf[i]!], k) }
            if aliases.contains(k) {
                bufferOf[l.output] = bufferOf[l.inputs[0]]!
            } else {
                newBuffer(l.output, at: k)
            }
        }
        let out = bufferOf[model.output.name]!
        last[out] = layers.count
        // Greedy placement, largest first.
        let order = sizes.indices.sorted { sizes[$0] != sizes[$1] ? sizes[$0] > sizes[$1] : first[$0] < first[$1] }
        var offset = [Int](repeating: 0, count: sizes.count)
        var placed = [Int]()
        for b in order {
            let clashes = placed.filter { first[$0] <= last[b] && first[b] <= last[$0] }
                .map { (offset[$0], offset[$0] + sizes[$0]) }.sorted { $0.0 < $1.0 }
            var at = 0
            for (lo, hi) in clashes {
                if at + sizes[b] <= lo { break }
                at = max(at, hi)
            }
            offset[b] = at
            placed.append(b)
        }
        var offsets = [String: Int]()
        for (t, b) in bufferOf { offsets[t] = offset[b] }
        self.storage = storage
        self.offsets = offsets
        self.aliases = aliases
        self.arenaBytes = zip(offset, sizes).map { $0 + $1 }.max() ?? 0
    }
}
