/// The reference C kernels of the device library, as text the exporter copies into
/// `shrink_kernels.c` (only the kernels a model uses).
///
/// Layouts follow CMSIS-NN: activations NHWC (channels last), convolution weights OHWI,
/// depthwise weights `[kH][kW][outC]`, fully connected weights `[outputs][inputs]`. The int8
/// arithmetic is that of CMSIS-NN's s8 kernels (`arm_convolve_s8`, `arm_depthwise_conv_s8`,
/// `arm_fully_connected_s8`, `arm_max_pool_s8`, `arm_avgpool_s8`, `arm_elementwise_add_s8`) with
/// the default double-rounding `arm_nn_requantize`, written independently from the
/// documented operations: accumulate `bias + Σ (x + input_offset)·w` in int32, requantise,
/// add the output offset, clamp. A user may call CMSIS-NN instead with the same parameters.
enum CKernels {
    /// One field of a parameter struct; every field is 4 bytes on a 32-bit target.
    struct Field {
        var type: String
        var name: String
    }

    /// A parameter struct: its C name and fields, in order.
    struct ParamStruct {
        var name: String
        var fields: [Field]
        /// Bytes on a 32-bit Arm target (every field is a 4-byte int, float or pointer).
        var targetSize: Int { fields.count * 4 }

        var definition: String {
            "typedef struct {\n" + fields.map { "    \($0.type) \($0.name);" }.joined(separator: "\n") + "\n} \(name);\n"
        }
    }

    static func ints(_ names: String) -> [Field] {
        names.split(separator: " ").map { Field(type: "int32_t", name: String($0)) }
    }

    static func floats(_ names: String) -> [Field] {
        names.split(separator: " ").map { Field(type: "float", name: String($0)) }
    }

    static let convGeometry = "in_h in_w in_c out_h out_w out_c k_h k_w stride_h stride_w pad_top pad_left dil_h dil_w groups"
    static let poolGeometry = "in_h in_w channels out_h out_w k_h k_w stride_h stride_w pad_top pad_left count_include_pad"

    static let convS8 = ParamStruct(name: "shrink_conv_s8_params", fields: [
        Field(type: "const int8_t *", name: "weights"), Field(type: "const int32_t *", name: "bias"),
        Field(type: "const int32_t *", name: "multiplier"), Field(type: "const int32_t *", name: "shift"),
    ] + ints(convGeometry + " input_offset output_offset act_min act_max"))
    static let fcS8 = ParamStruct(name: "shrink_fc_s8_params", fields: [
        Field(type: "const int8_t *", name: "weights"), Field(type: "const int32_t *", name: "bias"),
    ] + ints("in_n out_n input_offset output_offset multiplier shift act_min act_max"))
    static let poolS8 = ParamStruct(name: "shrink_pool_s8_params", fields: ints(poolGeometry + " zero_point act_min act_max"))
    static let addS8 = ParamStruct(name: "shrink_add_s8_params", fields: ints(
        "size in1_offset in1_mult in1_shift in2_offset in2_mult in2_shift left_shift out_offset out_mult out_shift act_min act_max"))
    static let clampS8 = ParamStruct(name: "shrink_clamp_s8_params", fields: ints("size act_min act_max"))
    static let lookupS8 = ParamStruct(name: "shrink_lookup_s8_params", fields: [
        Field(type: "const int8_t *", name: "table"),
    ] + ints("size"))
    static let mulS8 = ParamStruct(name: "shrink_mul_s8_params", fields: ints(
        "size channels in1_offset in2_offset out_offset out_mult out_shift act_min act_max"))
    static let reorder = ParamStruct(name: "shrink_reorder_params", fields: ints("h w c"))

    static let convF32 = ParamStruct(name: "shrink_conv_f32_params", fields: [
        Field(type: "const float *", name: "weights"), Field(type: "const float *", name: "bias"),
    ] + ints(convGeometry) + floats("act_min act_max"))
    static let fcF32 = ParamStruct(name: "shrink_fc_f32_params", fields: [
        Field(type: "const float *", name: "weights"), Field(type: "const float *", name: "bias"),
    ] + ints("in_n out_n") + floats("act_min act_max"))
    static let poolF32 = ParamStruct(name: "shrink_pool_f32_params", fields: ints(poolGeometry))
    static let clampF32 = ParamStruct(name: "shrink_clamp_f32_params", fields: ints("size") + floats("act_min act_max"))
    static let lookupF32 = ParamStruct(name: "shrink_lookup_f32_params", fields: ints("size function") + floats("alpha beta"))
    static let mulF32 = ParamStruct(name: "shrink_mul_f32_params", fields: ints("size channels") + floats("act_min act_max"))

    /// The parameter struct of kernel `kind`.
    static func params(_ kind: KernelKind, int8: Bool) -> ParamStruct {
        switch (kind, int8) {
        case (.conv, true), (.depthwiseConv, true): convS8
        case (.conv, false), (.depthwiseConv, false): convF32
        case (.fullyConnected, true): fcS8
        case (.fullyConnected, false): fcF32
        case (.maxPool, true), (.averagePool, true): poolS8
        case (.maxPool, false), (.averagePool, false): poolF32
        case (.add, true): addS8
        case (.add, false), (.clamp, false): clampF32
        case (.clamp, true): clampS8
        case (.reshape, _): reorder
        case (.lookup, true): lookupS8
        case (.lookup, false): lookupF32
        case (.mul, true): mulS8
        case (.mul, false): mulF32
        }
    }

    /// The C function of kernel `kind`.
    static func function(_ kind: KernelKind, int8: Bool) -> String {
        let suffix = int8 ? "s8" : "f32"
        return switch kind {
        case .conv: "shrink_conv_\(suffix)"
        case .depthwiseConv: "shrink_depthwise_conv_\(suffix)"
        case .fullyConnected: "shrink_fully_connected_\(suffix)"
        case .maxPool: "shrink_max_pool_\(suffix)"
        case .averagePool: "shrink_avg_pool_\(suffix)"
        case .add: "shrink_add_\(suffix)"
        case .clamp: "shrink_clamp_\(suffix)"
        case .reshape: "shrink_reorder_\(suffix)"
        case .lookup: "shrink_lookup_\(suffix)"
        case .mul: "shrink_mul_\(suffix)"
        }
    }

    /// The prototype of kernel `kind`.
    static func prototype(_ kind: KernelKind, int8: Bool) -> String {
        let t = int8 ? "int8_t" : "float"
        let p = params(kind, int8: int8).name
        if kind == .add || kind == .mul {
            return "void \(function(kind, int8: int8))(const \(p) *p, const \(t) *in1, const \(t) *in2, \(t) *out)"
        }
        return "void \(function(kind, int8: int8))(const \(p) *p, const \(t) *in, \(t) *out)"
    }

    /// The fixed-point helpers (`arm_nn_doubling_high_mult_no_sat`, `arm_nn_divide_by_power_of_two`,
    /// `arm_nn_requantize`); right shifts of negative values are arithmetic, as on every
    /// compiler CMSIS-NN supports.
    static let requantize = """
    /* (a * b + 2^30) >> 31: arm_nn_doubling_high_mult_no_sat, rounding half up. */
    static int32_t shrink_doubling_high_mult(int32_t a, int32_t b)
    {
        const int64_t p = (int64_t)a * (int64_t)b + ((int64_t)1 << 30);
        return (int32_t)(p >> 31);
    }

    /* x / 2^e rounded half away from zero: arm_nn_divide_by_power_of_two. */
    static int32_t shrink_divide_by_power_of_two(int32_t x, int32_t e)
    {
        const int32_t mask = (int32_t)(((int64_t)1 << e) - 1);
        const int32_t remainder = x & mask;
        int32_t result = x >> e;
        int32_t threshold = mask >> 1;
        if (result < 0) {
            threshold++;
        }
        if (remainder > threshold) {
            result++;
        }
        return result;
    }

    /* x * multiplier * 2^(shift - 31): arm_nn_requantize (default rounding). */
    static int32_t shrink_requantize(int32_t x, int32_t multiplier, int32_t shift)
    {
        const int32_t left = shift > 0 ? shift : 0;
        const int32_t right = shift > 0 ? 0 : -shift;
        return shrink_divide_by_power_of_two(shrink_doubling_high_mult(x * (1 << left), multiplier), right);
    }

    static int8_t shrink_clamp_to_s8(int32_t v, int32_t lo, int32_t hi)
    {
        if (v < lo) {
            v = lo;
        }
        if (v > hi) {
            v = hi;
        }
        return (int8_t)v;
    }

    """

    /// True for the int8 kernels that call `requantize`'s helpers.
    static func needsRequantize(_ kind: KernelKind) -> Bool {
        [.conv, .depthwiseConv, .fullyConnected, .add, .mul].contains(kind)
    }

    /// True for the int8 kernels that call `shrink_clamp_to_s8` (all but reorder and lookup).
    static func needsClamp(_ kind: KernelKind) -> Bool { kind != .reshape && kind != .lookup }

    /// The body of kernel `kind`.
    static func source(_ kind: KernelKind, int8: Bool) -> String {
        let head = prototype(kind, int8: int8) + "\n"
        switch (kind, int8) {
        case (.conv, true):
            return """
            /* Convolution (also grouped, 1x1, kx1, 1xk) like arm_convolve_s8: NHWC input, OHWI weights. */
            \(head){
                const int32_t cg = p->in_c / p->groups;
                const int32_t og = p->out_c / p->groups;
                int32_t oy, ox, m, ky, kx, c;
                for (oy = 0; oy < p->out_h; oy++) {
                    for (ox = 0; ox < p->out_w; ox++) {
                        const int32_t y0 = oy * p->stride_h - p->pad_top;
                        const int32_t x0 = ox * p->stride_w - p->pad_left;
                        for (m = 0; m < p->out_c; m++) {
                            const int32_t group = m / og;
                            const int8_t *w = p->weights + m * p->k_h * p->k_w * cg;
                            int32_t acc = p->bias ? p->bias[m] : 0;
                            for (ky = 0; ky < p->k_h; ky++) {
                                const int32_t iy = y0 + ky * p->dil_h;
                                if (iy < 0 || iy >= p->in_h) {
                                    continue;
                                }
                                for (kx = 0; kx < p->k_w; kx++) {
                                    const int32_t ix = x0 + kx * p->dil_w;
                                    const int8_t *src;
                                    const int8_t *wk;
                                    if (ix < 0 || ix >= p->in_w) {
                                        continue;
                                    }
                                    src = in + (iy * p->in_w + ix) * p->in_c + group * cg;
                                    wk = w + (ky * p->k_w + kx) * cg;
                                    for (c = 0; c < cg; c++) {
                                        acc += ((int32_t)src[c] + p->input_offset) * (int32_t)wk[c];
                                    }
                                }
                            }
                            acc = shrink_requantize(acc, p->multiplier[m], p->shift[m]) + p->output_offset;
                            *out++ = shrink_clamp_to_s8(acc, p->act_min, p->act_max);
                        }
                    }
                }
            }

            """
        case (.depthwiseConv, true):
            return """
            /* Depthwise convolution like arm_depthwise_conv_s8: NHWC input, [kH][kW][outC] weights,
               output channel m reads input channel m / (out_c / in_c). */
            \(head){
                const int32_t mult = p->out_c / p->in_c;
                int32_t oy, ox, m, ky, kx;
                for (oy = 0; oy < p->out_h; oy++) {
                    for (ox = 0; ox < p->out_w; ox++) {
                        const int32_t y0 = oy * p->stride_h - p->pad_top;
                        const int32_t x0 = ox * p->stride_w - p->pad_left;
                        for (m = 0; m < p->out_c; m++) {
                            const int32_t c = m / mult;
                            int32_t acc = p->bias ? p->bias[m] : 0;
                            for (ky = 0; ky < p->k_h; ky++) {
                                const int32_t iy = y0 + ky * p->dil_h;
                                if (iy < 0 || iy >= p->in_h) {
                                    continue;
                                }
                                for (kx = 0; kx < p->k_w; kx++) {
                                    const int32_t ix = x0 + kx * p->dil_w;
                                    if (ix < 0 || ix >= p->in_w) {
                                        continue;
                                    }
                                    acc += ((int32_t)in[(iy * p->in_w + ix) * p->in_c + c] + p->input_offset)
                                        * (int32_t)p->weights[(ky * p->k_w + kx) * p->out_c + m];
                                }
                            }
                            acc = shrink_requantize(acc, p->multiplier[m], p->shift[m]) + p->output_offset;
                            *out++ = shrink_clamp_to_s8(acc, p->act_min, p->act_max);
                        }
                    }
                }
            }

            """
        case (.fullyConnected, true):
            return """
            /* Fully connected like arm_fully_connected_s8: [out][in] weights, one multiplier. */
            \(head){
                int32_t o, i;
                for (o = 0; o < p->out_n; o++) {
                    const int8_t *w = p->weights + o * p->in_n;
                    int32_t acc = p->bias ? p->bias[o] : 0;
                    for (i = 0; i < p->in_n; i++) {
                        acc += ((int32_t)in[i] + p->input_offset) * (int32_t)w[i];
                    }
                    acc = shrink_requantize(acc, p->multiplier, p->shift) + p->output_offset;
                    out[o] = shrink_clamp_to_s8(acc, p->act_min, p->act_max);
                }
            }

            """
        case (.maxPool, true):
            return """
            /* Max pooling like arm_max_pool_s8: padding never wins. */
            \(head){
                int32_t oy, ox, c, y, x;
                for (oy = 0; oy < p->out_h; oy++) {
                    const int32_t y0 = oy * p->stride_h - p->pad_top;
                    const int32_t ys = y0 < 0 ? 0 : y0;
                    const int32_t ye = y0 + p->k_h < p->in_h ? y0 + p->k_h : p->in_h;
                    for (ox = 0; ox < p->out_w; ox++) {
                        const int32_t x0 = ox * p->stride_w - p->pad_left;
                        const int32_t xs = x0 < 0 ? 0 : x0;
                        const int32_t xe = x0 + p->k_w < p->in_w ? x0 + p->k_w : p->in_w;
                        for (c = 0; c < p->channels; c++) {
                            int32_t v = -128;
                            for (y = ys; y < ye; y++) {
                                for (x = xs; x < xe; x++) {
                                    const int32_t e = in[(y * p->in_w + x) * p->channels + c];
                                    if (e > v) {
                                        v = e;
                                    }
                                }
                            }
                            *out++ = shrink_clamp_to_s8(v, p->act_min, p->act_max);
                        }
                    }
                }
            }

            """
        case (.averagePool, true):
            return """
            /* Average pooling like arm_avgpool_s8: the sum over the window's input elements divided by
               their count, rounded half away from zero. With count_include_pad, padding counts as the
               zero point and the divisor is the whole window. */
            \(head){
                int32_t oy, ox, c, y, x;
                for (oy = 0; oy < p->out_h; oy++) {
                    const int32_t y0 = oy * p->stride_h - p->pad_top;
                    const int32_t ys = y0 < 0 ? 0 : y0;
                    const int32_t ye = y0 + p->k_h < p->in_h ? y0 + p->k_h : p->in_h;
                    for (ox = 0; ox < p->out_w; ox++) {
                        const int32_t x0 = ox * p->stride_w - p->pad_left;
                        const int32_t xs = x0 < 0 ? 0 : x0;
                        const int32_t xe = x0 + p->k_w < p->in_w ? x0 + p->k_w : p->in_w;
                        for (c = 0; c < p->channels; c++) {
                            int32_t sum = 0;
                            int32_t count = (ye - ys) * (xe - xs);
                            for (y = ys; y < ye; y++) {
                                for (x = xs; x < xe; x++) {
                                    sum += in[(y * p->in_w + x) * p->channels + c];
                                }
                            }
                            if (p->count_include_pad) {
                                sum += (p->k_h * p->k_w - count) * p->zero_point;
                                count = p->k_h * p->k_w;
                            }
                            sum = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
                            *out++ = shrink_clamp_to_s8(sum, p->act_min, p->act_max);
                        }
                    }
                }
            }

            """
        case (.add, true):
            return """
            /* Elementwise addition like arm_elementwise_add_s8. */
            \(head){
                int32_t i;
                for (i = 0; i < p->size; i++) {
                    int32_t a = ((int32_t)in1[i] + p->in1_offset) * (1 << p->left_shift);
                    int32_t b = ((int32_t)in2[i] + p->in2_offset) * (1 << p->left_shift);
                    int32_t sum;
                    a = shrink_requantize(a, p->in1_mult, p->in1_shift);
                    b = shrink_requantize(b, p->in2_mult, p->in2_shift);
                    sum = shrink_requantize(a + b, p->out_mult, p->out_shift) + p->out_offset;
                    out[i] = shrink_clamp_to_s8(sum, p->act_min, p->act_max);
                }
            }

            """
        case (.clamp, true):
            return """
            /* A standalone ReLU/Clip: clamp to the activation range. */
            \(head){
                int32_t i;
                for (i = 0; i < p->size; i++) {
                    out[i] = shrink_clamp_to_s8(in[i], p->act_min, p->act_max);
                }
            }

            """
        case (.lookup, true):
            return """
            /* An elementwise function (hard-swish, hard-sigmoid, leaky ReLU) as a table over the
             * 256 int8 inputs, computed at export time: exact, and no libm. */
            \(head){
                int32_t i;
                for (i = 0; i < p->size; i++) {
                    out[i] = p->table[(int32_t)in[i] + 128];
                }
            }

            """
        case (.mul, true):
            return """
            /* TFLite's int8 Mul (arm_elementwise_mul_s8): requantise (in1 + off1) * (in2 + off2).
             * With channels > 0, in2 holds one value per channel of the channels-last in1. */
            \(head){
                int32_t i;
                for (i = 0; i < p->size; i++) {
                    const int32_t j = p->channels > 0 ? i % p->channels : i;
                    int32_t prod = ((int32_t)in1[i] + p->in1_offset) * ((int32_t)in2[j] + p->in2_offset);
                    prod = shrink_requantize(prod, p->out_mult, p->out_shift) + p->out_offset;
                    out[i] = shrink_clamp_to_s8(prod, p->act_min, p->act_max);
                }
            }

            """
        case (.lookup, false):
            return """
            /* An elementwise function: 0 hard-swish, 1 hard-sigmoid(alpha, beta), 2 leaky ReLU(alpha). */
            \(head){
                int32_t i;
                for (i = 0; i < p->size; i++) {
                    const float x = in[i];
                    float y;
                    if (p->function == 0) {
                        y = shrink_clamp_value_f32(x + 3.0f, 0.0f, 6.0f);
                        y = x * y / 6.0f;
                    } else if (p->function == 1) {
                        y = shrink_clamp_value_f32(p->alpha * x + p->beta, 0.0f, 1.0f);
                    } else {
                        y = x >= 0.0f ? x : p->alpha * x;
                    }
                    out[i] = y;
                }
            }

            """
        case (.mul, false):
            return """
            /* Float elementwise product; with channels > 0, in2 holds one value per channel. */
            \(head){
                int32_t i;
                for (i = 0; i < p->size; i++) {
                    const int32_t j = p->channels > 0 ? i % p->channels : i;
                    out[i] = shrink_clamp_value_f32(in1[i] * in2[j], p->act_min, p->act_max);
                }
            }

            """
        case (.reshape, _):
            return """
            /* Flatten of a channels-last map into ONNX (C, H, W) order. */
            \(head){
                int32_t y, x, c;
                for (y = 0; y < p->h; y++) {
                    for (x = 0; x < p->w; x++) {
                        for (c = 0; c < p->c; c++) {
                            out[(c * p->h + y) * p->w + x] = in[(y * p->w + x) * p->c + c];
                        }
                    }
                }
            }

            """
        case (.conv, false):
            return """
            /* Float convolution (also grouped): NHWC input, OHWI weights. */
            \(head){
                const int32_t cg = p->in_c / p->groups;
                const int32_t og = p->out_c / p->groups;
                int32_t oy, ox, m, ky, kx, c;
                for (oy = 0; oy < p->out_h; oy++) {
                    for (ox = 0; ox < p->out_w; ox++) {
                        const int32_t y0 = oy * p->stride_h - p->pad_top;
                        const int32_t x0 = ox * p->stride_w - p->pad_left;
                        for (m = 0; m < p->out_c; m++) {
                            const int32_t group = m / og;
                            const float *w = p->weights + m * p->k_h * p->k_w * cg;
                            float acc = p->bias ? p->bias[m] : 0.0f;
                            for (ky = 0; ky < p->k_h; ky++) {
                                const int32_t iy = y0 + ky * p->dil_h;
                                if (iy < 0 || iy >= p->in_h) {
                                    continue;
                                }
                                for (kx = 0; kx < p->k_w; kx++) {
                                    const int32_t ix = x0 + kx * p->dil_w;
                                    const float *src;
                                    const float *wk;
                                    if (ix < 0 || ix >= p->in_w) {
                                        continue;
                                    }
                                    src = in + (iy * p->in_w + ix) * p->in_c + group * cg;
                                    wk = w + (ky * p->k_w + kx) * cg;
                                    for (c = 0; c < cg; c++) {
                                        acc += src[c] * wk[c];
                                    }
                                }
                            }
                            *out++ = shrink_clamp_value_f32(acc, p->act_min, p->act_max);
                        }
                    }
                }
            }

            """
        case (.depthwiseConv, false):
            return """
            /* Float depthwise convolution: NHWC input, [kH][kW][outC] weights. */
            \(head){
                const int32_t mult = p->out_c / p->in_c;
                int32_t oy, ox, m, ky, kx;
                for (oy = 0; oy < p->out_h; oy++) {
                    for (ox = 0; ox < p->out_w; ox++) {
                        const int32_t y0 = oy * p->stride_h - p->pad_top;
                        const int32_t x0 = ox * p->stride_w - p->pad_left;
                        for (m = 0; m < p->out_c; m++) {
                            const int32_t c = m / mult;
                            float acc = p->bias ? p->bias[m] : 0.0f;
                            for (ky = 0; ky < p->k_h; ky++) {
                                const int32_t iy = y0 + ky * p->dil_h;
                                if (iy < 0 || iy >= p->in_h) {
                                    continue;
                                }
                                for (kx = 0; kx < p->k_w; kx++) {
                                    const int32_t ix = x0 + kx * p->dil_w;
                                    if (ix < 0 || ix >= p->in_w) {
                                        continue;
                                    }
                                    acc += in[(iy * p->in_w + ix) * p->in_c + c] * p->weights[(ky * p->k_w + kx) * p->out_c + m];
                                }
                            }
                            *out++ = shrink_clamp_value_f32(acc, p->act_min, p->act_max);
                        }
                    }
                }
            }

            """
        case (.fullyConnected, false):
            return """
            /* Float fully connected: [out][in] weights. */
            \(head){
                int32_t o, i;
                for (o = 0; o < p->out_n; o++) {
                    const float *w = p->weights + o * p->in_n;
                    float acc = p->bias ? p->bias[o] : 0.0f;
                    for (i = 0; i < p->in_n; i++) {
                        acc += in[i] * w[i];
                    }
                    out[o] = shrink_clamp_value_f32(acc, p->act_min, p->act_max);
                }
            }

            """
        case (.maxPool, false), (.averagePool, false):
            let isMax = kind == .maxPool
            return """
            /* Float \(isMax ? "max" : "average") pooling, NHWC. */
            \(head){
                int32_t oy, ox, c, y, x;
                for (oy = 0; oy < p->out_h; oy++) {
                    const int32_t y0 = oy * p->stride_h - p->pad_top;
                    const int32_t ys = y0 < 0 ? 0 : y0;
                    const int32_t ye = y0 + p->k_h < p->in_h ? y0 + p->k_h : p->in_h;
                    for (ox = 0; ox < p->out_w; ox++) {
                        const int32_t x0 = ox * p->stride_w - p->pad_left;
                        const int32_t xs = x0 < 0 ? 0 : x0;
                        const int32_t xe = x0 + p->k_w < p->in_w ? x0 + p->k_w : p->in_w;
                        for (c = 0; c < p->channels; c++) {
            \(isMax ? """
                            float v = -3.40282347e+38f;
                            for (y = ys; y < ye; y++) {
                                for (x = xs; x < xe; x++) {
                                    const float e = in[(y * p->in_w + x) * p->channels + c];
                                    if (e > v) {
                                        v = e;
                                    }
                                }
                            }
                            *out++ = v;
            """ : """
                            float sum = 0.0f;
                            int32_t count = p->count_include_pad ? p->k_h * p->k_w : (ye - ys) * (xe - xs);
                            for (y = ys; y < ye; y++) {
                                for (x = xs; x < xe; x++) {
                                    sum += in[(y * p->in_w + x) * p->channels + c];
                                }
                            }
                            *out++ = sum / (float)count;
            """)
                        }
                    }
                }
            }

            """
        case (.add, false):
            return """
            /* Float elementwise addition. */
            \(head){
                int32_t i;
                for (i = 0; i < p->size; i++) {
                    out[i] = shrink_clamp_value_f32(in1[i] + in2[i], p->act_min, p->act_max);
                }
            }

            """
        case (.clamp, false):
            return """
            /* A standalone ReLU/Clip. */
            \(head){
                int32_t i;
                for (i = 0; i < p->size; i++) {
                    out[i] = shrink_clamp_value_f32(in[i], p->act_min, p->act_max);
                }
            }

            """
        }
    }

    /// The float clamp helper (used by the float kernels that apply an activation).
    static let clampF32Helper = """
    static float shrink_clamp_value_f32(float v, float lo, float hi)
    {
        if (v < lo) {
            v = lo;
        }
        if (v > hi) {
            v = hi;
        }
        return v;
    }

    """

    /// True for the float kernels that call `shrink_clamp_f32`.
    static func needsClampF32(_ kind: KernelKind) -> Bool {
        [.conv, .depthwiseConv, .fullyConnected, .add, .clamp, .lookup, .mul].contains(kind)
    }
}
