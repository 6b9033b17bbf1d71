using System.Globalization;

namespace Qwen3Gen.Models;

/// <summary>
/// How many bytes a definition's weights take, and whether this machine has them free, checked before anything is
/// allocated: Qwen3-30B-A3B is 30.5 B parameters (61 GB in BF16), and allocating that on a 24 GB machine ends in
/// the OOM killer (or a swap storm) minutes later instead of a clear message now.
/// </summary>
public static class MemoryBudget
{
    /// <summary>
    /// Parameters of a model with <paramref name="c"/>'s hyper-parameters, counted the way the generated Layout stores
    /// them (Rules.ShapeRules.ParameterCount: the one count the generator uses too).
    /// </summary>
    public static long ParameterCount(ModelConfig c)
    {
        ArgumentNullException.ThrowIfNull(c);
        return (long)Rules.ShapeRules.ParameterCount(c.Vocab, c.Hidden, c.Layers, c.Heads, c.KvHeads, c.HeadDim, c.Ffn,
            c.Experts, c.ExpertFfn, c.TieEmbeddings, c.IsSparse);
    }

    /// <summary>The 1-D norm weights (float32 in both formats): per layer input, q, k and post-attention norms, and the final norm.</summary>
    public static long VectorCount(ModelConfig c) => (long)Rules.ShapeRules.VectorCount(c.Hidden, c.Layers, c.HeadDim);

    /// <summary>Bytes of the weights in memory: 4 per parameter in F32; in BF16 2 per matrix entry and 4 per norm weight (as <see cref="Weights.Bytes"/>).</summary>
    public static long WeightBytes(ModelConfig c, WeightFormat format)
    {
        long count = ParameterCount(c), vectors = VectorCount(c);
        return format == WeightFormat.F32 ? count * 4 : (count - vectors) * 2 + vectors * 4;
    }

    /// <summary>
    /// Memory this process can still take: MemAvailable of /proc/meminfo (free + reclaimable cache, without swap),
    /// capped by the GC's view of the machine (a container's limit); the GC's view alone where there is no /proc/meminfo.
    /// </summary>
    public static long AvailableBytes()
    {
        long limit = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        try
        {
            if (File.Exists("/proc/meminfo") && ParseMemAvailable(File.ReadAllText("/proc/meminfo")) is long available)
                return limit > 0 ? Math.Min(available, limit) : available;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return limit;
    }

    /// <summary>The "MemAvailable:  23755568 kB" line of /proc/meminfo, in bytes; null when absent or malformed.</summary>
    public static long? ParseMemAvailable(string meminfo)
    {
        foreach (var line in meminfo.Split('\n'))
        {
            if (!line.StartsWith("MemAvailable:", StringComparison.Ordinal)) continue;
            var parts = line["MemAvailable:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && parts[1] == "kB" && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long kb))
                return kb * 1024;
            return null;
        }
        return null;
    }

    /// <summary>
    /// Null when <paramref name="needed"/> bytes fit in <paramref name="available"/>; else the message: what needs how
    /// many bytes, how many are available, and (for F32 weights that would fit in BF16) the way out.
    /// </summary>
    public static string? Shortfall(string name, ModelConfig config, WeightFormat format, long available)
    {
        long needed = WeightBytes(config, format);
        if (needed <= available) return null;
        var c = CultureInfo.InvariantCulture;
        string message = string.Format(c,
            "{0} needs {1:N0} bytes ({2:0.00} GB) for its {3:N0} parameters in {4}, but only {5:N0} bytes ({6:0.00} GB) are available " +
            "({7}); nothing was allocated.",
            name, needed, needed / 1e9, ParameterCount(config), format, available, available / 1e9,
            File.Exists("/proc/meminfo") ? "MemAvailable in /proc/meminfo" : "the GC's total available memory");
        if (format == WeightFormat.F32 && WeightBytes(config, WeightFormat.BF16) <= available)
            message += string.Format(c, " BF16 weights would fit ({0:0.00} GB).", WeightBytes(config, WeightFormat.BF16) / 1e9);
        else
            message += " Use a smaller model or a machine with more memory.";
        return message;
    }

    /// <summary>Throws <see cref="InsufficientMemoryException"/> with <see cref="Shortfall"/>'s message when the weights do not fit.</summary>
    public static void EnsureWeightsFit(string name, ModelConfig config, WeightFormat format, long? available = null)
    {
        if (Shortfall(name, config, format, available ?? AvailableBytes()) is string message)
            throw new InsufficientMemoryException(message);
    }
}
