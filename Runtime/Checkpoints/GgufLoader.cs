using Qwen3Gen.Kernels;
using Qwen3Gen.Quantization;
using Qwen3Gen.Models;

namespace Qwen3Gen.Checkpoints;

/// <summary>
/// Fills a model's F32 or BF16 <see cref="Weights"/> from a GGUF file by HF key (<see cref="GgufNames"/>),
/// dequantising each tensor exactly (<see cref="Dequantize"/>): the float32 engine on quantised weights. As with
/// safetensors, everything is checked before a value is written (every model tensor present, its shape equal,
/// its type supported) and all problems are reported together.
/// </summary>
public static unsafe class GgufLoader
{
    public static LoadReport Load(IReadOnlyList<TensorSpec> tensors, Weights weights, GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(file);
        WeightsAccess.CheckLayout(tensors, weights);

        var sources = Resolve(tensors, file);
        var types = new Dictionary<GgmlType, int>();
        var row = new float[1 << 16];
        for (int i = 0; i < tensors.Count; i++)
        {
            var (info, first, count) = sources[i];
            WeightsAccess.Locate(weights, tensors[i], out float* f32, out BF16* bf16);
            long rowLength = info.RowLength;
            byte* data = file.Data(info) + first / rowLength * info.RowBytes;
            if (f32 != null)
                Dequantize.Row(info.Type, data, f32, count);
            else
            {
                // BF16 weights: dequantise a row at a time, then round to nearest even.
                if (row.Length < rowLength) row = new float[rowLength];
                fixed (float* r = row)
                    for (long done = 0; done < count; done += rowLength)
                    {
                        Dequantize.Row(info.Type, data + done / rowLength * info.RowBytes, r, rowLength);
                        for (long j = 0; j < rowLength; j++) bf16[done + j] = BF16.FromSingle(r[j]);
                    }
            }
            types[info.Type] = types.GetValueOrDefault(info.Type) + 1;
        }
        return Report(tensors, file, types);
    }

    /// <summary>
    /// <see cref="WeightFormat.Quantized"/> weights over <paramref name="file"/>: every matrix a handle on its blocks in
    /// the mapping (stacked experts: the expert's rows), in its stored type, not copied; F16 matrices are widened to
    /// float32 copies (the kernels multiply F32, BF16 and the GGML block types); the 1-D vectors are dequantised into
    /// the weights. The file is disposed with the weights.
    /// </summary>
    public static (Weights Weights, LoadReport Report) LoadMapped(IReadOnlyList<TensorSpec> tensors, long count, long vectorStart, GgufFile file)
    {
        var sources = Resolve(tensors, file);
        var matrices = new Dictionary<long, WeightMatrix>();
        var owned = new List<IDisposable>();
        var types = new Dictionary<GgmlType, int>();
        long mappedBytes = 0;
        try
        {
            var vectors = new List<(TensorSpec Spec, int Index)>();
            for (int i = 0; i < tensors.Count; i++)
            {
                var spec = tensors[i];
                var (info, first, elements) = sources[i];
                types[info.Type] = types.GetValueOrDefault(info.Type) + 1;
                if (spec.Offset >= vectorStart)
                {
                    vectors.Add((spec, i));
                    continue;
                }
                byte* data = file.Data(info) + first / info.RowLength * info.RowBytes;
                if (Quantization.MatrixRows.FromGgml(info.Type) is MatrixFormat format)
                {
                    matrices[spec.Offset] = new WeightMatrix(data, format);
                    mappedBytes += elements / info.RowLength * info.RowBytes;
                }
                else
                {
                    var copy = new NativeBuffer<float>(elements);
                    owned.Add(copy);
                    Dequantize.Row(info.Type, data, copy.Pointer, elements);
                    matrices[spec.Offset] = WeightMatrix.F32(copy.Pointer);
                    mappedBytes += elements * 4;
                }
            }
            owned.Add(file);
            var weights = Weights.CreateMapped(count, vectorStart, matrices, mappedBytes, new Owned(owned));
            foreach (var (spec, i) in vectors)
            {
                var (info, first, elements) = sources[i];
                Dequantize.Row(info.Type, file.Data(info) + first / info.RowLength * info.RowBytes, weights.Vectors + spec.Offset, elements);
            }
            return (weights, Report(tensors, file, types));
        }
        catch
        {
            foreach (var o in owned) if (!ReferenceEquals(o, file)) o.Dispose();
            throw;
        }
    }

    private sealed class Owned(List<IDisposable> items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var item in items) item.Dispose();
            items.Clear();
        }
    }

    /// <summary>
    /// For every model tensor: the GGUF tensor holding it and the element range (a whole expert of a stacked
    /// tensor, else everything). Throws one <see cref="InvalidDataException"/> listing every missing or mismatched tensor.
    /// </summary>
    public static (GgufTensorInfo Info, long FirstElement, long Count)[] Resolve(IReadOnlyList<TensorSpec> tensors, GgufFile file)
    {
        var result = new (GgufTensorInfo, long, long)[tensors.Count];
        var problems = new List<string>();
        for (int i = 0; i < tensors.Count; i++)
        {
            var spec = tensors[i];
            if (GgufNames.ToGguf(spec.Name) is not { } source)
            {
                problems.Add($"'{spec.Name}' has no GGUF name.");
                continue;
            }
            if (!file.Tensors.TryGetValue(source.Name, out var info))
            {
                problems.Add($"'{spec.Name}': tensor '{source.Name}' is missing.");
                continue;
            }
            if (source.Expert < 0)
            {
                if (!info.ShapeEquals(spec.Shape))
                    problems.Add($"'{spec.Name}' ('{source.Name}'): expected shape {spec.ShapeText}, found {info.ShapeText} ({info.Type}).");
                result[i] = (info, 0, info.ElementCount);
                continue;
            }
            // Stacked experts: ne = [in, out, experts]; expert e is the e-th [out, in] matrix.
            if (info.Ne.Length != 3 || spec.Shape.Length != 2 || info.Ne[0] != spec.Shape[1] || info.Ne[1] != spec.Shape[0] || source.Expert >= info.Ne[2])
            {
                problems.Add($"'{spec.Name}' ('{source.Name}' expert {source.Expert}): expected {spec.ShapeText} per expert, found {info.ShapeText} ({info.Type}).");
                continue;
            }
            long per = info.Ne[0] * info.Ne[1];
            result[i] = (info, source.Expert * per, per);
        }
        if (problems.Count > 0)
            throw new InvalidDataException($"'{file.Path}' does not match the model:{Environment.NewLine}" + string.Join(Environment.NewLine, problems.Take(20))
                                           + (problems.Count > 20 ? $"{Environment.NewLine}... and {problems.Count - 20} more." : ""));
        return result;
    }

    internal static LoadReport Report(IReadOnlyList<TensorSpec> tensors, GgufFile file, Dictionary<GgmlType, int> types)
    {
        var used = new HashSet<string>(tensors.Select(t => GgufNames.ToGguf(t.Name)!.Value.Name), StringComparer.Ordinal);
        var extra = file.Tensors.Keys.Where(n => !used.Contains(n)).OrderBy(n => n, StringComparer.Ordinal).ToList();
        return new LoadReport(file.Path, [file.Path], tensors.Count, extra, new Dictionary<SafeTensorsDType, int>(), types);
    }
}
