using System.Buffers;
using Qwen3Gen.Kernels;
using Qwen3Gen.Models;

namespace Qwen3Gen.Checkpoints;

/// <summary>
/// Saves a model's <see cref="Weights"/> as a Hugging Face safetensors checkpoint: one tensor per
/// <see cref="TensorSpec"/> under its HF name, in F32 or BF16 (rounded to nearest even), metadata
/// <c>{"format": "pt"}</c> unless the caller sets it. Tied models save no <c>lm_head.weight</c>, as HF does.
/// The bytes are streamed from the weights through a small buffer (no copy of the model) into a temporary
/// file that is renamed over <paramref name="path"/> only when complete (<see cref="AtomicFile"/>).
/// </summary>
public static unsafe class CheckpointSaver
{
    private const int Chunk = 1 << 16; // elements per conversion step

    public static void Save(IReadOnlyList<TensorSpec> tensors, Weights weights, string path,
        IReadOnlyDictionary<string, string>? metadata = null, SafeTensorsDType dtype = SafeTensorsDType.F32)
    {
        var writer = CreateWriter(tensors, weights, metadata, dtype);
        writer.Save(path);
    }

    /// <summary>A writer with every tensor added; callers may add more tensors (optimizer state, ...) before saving.</summary>
    /// <param name="replace">For a tensor whose bytes come from elsewhere (a LoRA run's merged matrices, F32), their writer; null: the weights'.</param>
    public static SafeTensorsWriter CreateWriter(IReadOnlyList<TensorSpec> tensors, Weights weights,
        IReadOnlyDictionary<string, string>? metadata = null, SafeTensorsDType dtype = SafeTensorsDType.F32,
        Func<TensorSpec, Action<Stream>?>? replace = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(weights);
        if (dtype is not (SafeTensorsDType.F32 or SafeTensorsDType.BF16 or SafeTensorsDType.F16))
            throw new ArgumentException($"Weights are saved as F32, BF16 or F16, not {dtype}.", nameof(dtype));
        WeightsAccess.CheckLayout(tensors, weights);

        var writer = new SafeTensorsWriter(metadata);
        if (metadata is null || !metadata.ContainsKey("format")) writer.SetMetadata("format", "pt"); // transformers checks it
        foreach (var spec in tensors)
        {
            var tensor = spec;
            var write = replace?.Invoke(tensor);
            if (write is not null && dtype != SafeTensorsDType.F32) throw new ArgumentException($"Replaced tensors are written as F32, not {dtype}.", nameof(dtype));
            writer.Add(tensor.Name, dtype, Array.ConvertAll(tensor.Shape, d => (long)d), write ?? (stream => WriteTensor(stream, weights, tensor, dtype)));
        }
        return writer;
    }

    private static void WriteTensor(Stream stream, Weights weights, TensorSpec tensor, SafeTensorsDType dtype)
    {
        WeightsAccess.Locate(weights, tensor, out float* f32, out BF16* bf16);
        int size = dtype.Size();
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Chunk * size);
        try
        {
            long count = tensor.Length;
            for (long done = 0; done < count; done += Chunk)
            {
                int n = (int)Math.Min(Chunk, count - done);
                var bytes = buffer.AsSpan(0, n * size);
                if (f32 != null) TensorConvert.FromSingle(new ReadOnlySpan<float>(f32 + done, n), dtype, bytes);
                else TensorConvert.FromBF16(new ReadOnlySpan<BF16>(bf16 + done, n), dtype, bytes);
                stream.Write(bytes);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
