using System.Buffers.Binary;
using System.Text.Json;

namespace Qwen3Gen.Checkpoints;

/// <summary>
/// Parses and validates a safetensors header. The layout is
/// <c>u64 LE N | N bytes UTF-8 JSON | data section</c>, and the JSON maps each tensor name to
/// <c>{"dtype", "shape", "data_offsets": [begin, end]}</c> with offsets relative to the data section,
/// plus an optional <c>"__metadata__"</c> string-to-string map.
/// Everything a reader later trusts is checked here, so reads never leave the file:
/// bounded N, valid JSON object, known dtypes, non-negative integer shapes without overflow,
/// <c>end - begin == elements × dtype size</c>, ranges inside the data section, no two ranges overlapping.
/// Each violation is an <see cref="InvalidDataException"/> naming the file, the tensor and the numbers.
/// </summary>
internal static class SafeTensorsHeader
{
    /// <summary>The limit the reference Rust implementation uses too: real headers are a few hundred KB.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    public const string MetadataKey = "__metadata__";

    /// <summary>Reads N from the first 8 bytes and checks it against the file length. Returns N.</summary>
    public static long ReadHeaderLength(ReadOnlySpan<byte> first8, long fileLength, string file)
    {
        if (fileLength < 8)
            throw new InvalidDataException(fileLength == 0
                ? $"'{file}' is empty: a safetensors file starts with an 8-byte header length."
                : $"'{file}' is truncated: {fileLength} bytes, shorter than the 8-byte header length.");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(first8);
        if (n > MaxHeaderBytes)
            throw new InvalidDataException(
                $"'{file}' is not a valid safetensors file: header length {n} exceeds the limit of {MaxHeaderBytes} bytes.");
        if ((long)n > fileLength - 8)
            throw new InvalidDataException(
                $"'{file}' is truncated: header length {n} but only {fileLength - 8} bytes follow the length field.");
        if (n < 2)
            throw new InvalidDataException($"'{file}' is not a valid safetensors file: header length {n} is too small for a JSON object.");
        return (long)n;
    }

    /// <summary>Parses the JSON header and validates every tensor against a data section of <paramref name="dataLength"/> bytes.</summary>
    public static (Dictionary<string, SafeTensorInfo> Tensors, Dictionary<string, string> Metadata) Parse(
        byte[] json, long dataLength, string file)
    {
        if (!System.Text.Unicode.Utf8.IsValid(json))
            throw new InvalidDataException($"'{file}': the safetensors header is not valid UTF-8.");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{file}': the safetensors header is not valid UTF-8 JSON: {e.Message}", e);
        }

        using (document)
        {
            try { return ParseRoot(document.RootElement, dataLength, file); }
            catch (InvalidOperationException e)
            {
                // JsonDocument accepts escapes such as "\udc00" (a lone surrogate) but cannot turn them into a string.
                throw new InvalidDataException($"'{file}': the safetensors header holds a string that is not valid Unicode text (a lone surrogate escape such as \\udc00): {e.Message}", e);
            }
        }
    }

    private static (Dictionary<string, SafeTensorInfo> Tensors, Dictionary<string, string> Metadata) ParseRoot(
        JsonElement root, long dataLength, string file)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"'{file}': the safetensors header must be a JSON object, found {root.ValueKind}.");

        var tensors = new Dictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        bool sawMetadata = false;
        foreach (var property in root.EnumerateObject())
        {
            if (property.Name == MetadataKey)
            {
                if (sawMetadata) throw new InvalidDataException($"'{file}': '{MetadataKey}' appears twice in the header.");
                sawMetadata = true;
                ParseMetadata(property.Value, metadata, file);
                continue;
            }
            if (tensors.ContainsKey(property.Name))
                throw new InvalidDataException($"'{file}': tensor '{property.Name}' appears twice in the header.");
            tensors.Add(property.Name, ParseTensor(property.Name, property.Value, dataLength, file));
        }
        CheckNoOverlap(tensors.Values, file);
        return (tensors, metadata);
    }

    private static void ParseMetadata(JsonElement value, Dictionary<string, string> metadata, string file)
    {
        if (value.ValueKind == JsonValueKind.Null) return;
        if (value.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"'{file}': '{MetadataKey}' must be an object of strings, found {value.ValueKind}.");
        foreach (var entry in value.EnumerateObject())
        {
            if (metadata.ContainsKey(entry.Name))
                throw new InvalidDataException($"'{file}': '{MetadataKey}' entry '{entry.Name}' appears twice.");
            if (entry.Value.ValueKind != JsonValueKind.String)
                throw new InvalidDataException(
                    $"'{file}': '{MetadataKey}' entry '{entry.Name}' must be a string, found {entry.Value.ValueKind}.");
            metadata[entry.Name] = entry.Value.GetString()!;
        }
    }

    private static SafeTensorInfo ParseTensor(string name, JsonElement value, long dataLength, string file)
    {
        string where = $"'{file}', tensor '{name}'";
        if (name.Length == 0) throw new InvalidDataException($"'{file}': a tensor has an empty name.");
        if (value.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{where}: expected an object with dtype, shape and data_offsets, found {value.ValueKind}.");

        // Each field once: with "dtype" twice a reader would have to pick one (JsonElement takes the last, others the first).
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var field in value.EnumerateObject())
            if (!seen.Add(field.Name))
                throw new InvalidDataException($"{where}: field '{field.Name}' appears twice.");

        // dtype
        if (!value.TryGetProperty("dtype", out var dtypeElement))
            throw new InvalidDataException($"{where}: missing 'dtype'.");
        string? dtypeText = dtypeElement.ValueKind == JsonValueKind.String ? dtypeElement.GetString() : dtypeElement.GetRawText();
        if (dtypeElement.ValueKind != JsonValueKind.String || !SafeTensorsDTypes.TryParse(dtypeText, out var dtype))
            throw new InvalidDataException($"{where}: unknown dtype '{dtypeText}' (known: {SafeTensorsDTypes.KnownNames}).");

        // shape: non-negative integers whose product (times the dtype size) fits in a long
        if (!value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{where}: 'shape' must be an array of non-negative integers.");
        var shape = new long[shapeElement.GetArrayLength()];
        long elements = 1;
        bool overflow = false;
        int axis = 0;
        foreach (var dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long d))
                throw new InvalidDataException($"{where}: shape entry {axis} is {dim.GetRawText()}, not an integer.");
            if (d < 0)
                throw new InvalidDataException($"{where}: shape {shapeElement.GetRawText()} has a negative dimension {d}.");
            shape[axis++] = d;
            try { elements = checked(elements * d); }
            catch (OverflowException) { overflow = true; }
        }
        long expectedBytes = 0;
        if (!overflow)
        {
            try { expectedBytes = checked(elements * dtype.Size()); }
            catch (OverflowException) { overflow = true; }
        }
        if (overflow && !shape.Contains(0))
            throw new InvalidDataException($"{where}: shape {SafeTensorInfo.FormatShape(shape)} has more elements than a file can hold.");
        if (overflow) expectedBytes = 0;

        // data_offsets: [begin, end], begin <= end <= data section
        if (!value.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array
            || offsets.GetArrayLength() != 2)
            throw new InvalidDataException($"{where}: 'data_offsets' must be an array [begin, end].");
        if (!offsets[0].TryGetNonNegative(out long begin) || !offsets[1].TryGetNonNegative(out long end))
            throw new InvalidDataException($"{where}: data_offsets {offsets.GetRawText()} must be non-negative integers.");
        if (end < begin)
            throw new InvalidDataException($"{where}: data_offsets [{begin}, {end}] end before they begin.");
        if (end - begin != expectedBytes)
            throw new InvalidDataException(
                $"{where}: shape {SafeTensorInfo.FormatShape(shape)} of {dtype} needs {expectedBytes} bytes, " +
                $"but data_offsets [{begin}, {end}] hold {end - begin}.");
        if (end > dataLength)
            throw new InvalidDataException(
                $"{where}: data_offsets [{begin}, {end}] extend past the end of the data section ({dataLength} bytes): " +
                "the file is truncated or the offsets are wrong.");

        return new SafeTensorInfo(name, dtype, shape, begin, end);
    }

    private static bool TryGetNonNegative(this JsonElement e, out long value)
    {
        value = 0;
        return e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out value) && value >= 0;
    }

    /// <summary>Sorted by begin, each non-empty range must start at or after the previous one's end.</summary>
    private static void CheckNoOverlap(IEnumerable<SafeTensorInfo> tensors, string file)
    {
        var ranges = tensors.Where(t => t.End > t.Begin).OrderBy(t => t.Begin).ThenBy(t => t.End).ToArray();
        for (int i = 1; i < ranges.Length; i++)
        {
            var a = ranges[i - 1];
            var b = ranges[i];
            if (b.Begin < a.End)
                throw new InvalidDataException(
                    $"'{file}': tensors '{a.Name}' [{a.Begin}, {a.End}) and '{b.Name}' [{b.Begin}, {b.End}) overlap in the data section.");
        }
    }
}
