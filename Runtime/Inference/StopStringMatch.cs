namespace Qwen3Gen.Inference;

/// <summary>Where stop strings start in streamed text, and how much of its end must wait because it may still become one.</summary>
internal static class StopStringMatch
{
    /// <summary>Earliest index in <paramref name="text"/> where one of <paramref name="stops"/> starts, or -1.</summary>
    public static int First(ReadOnlySpan<char> text, string[] stops)
    {
        int first = -1;
        foreach (var stop in stops)                 // an array: foreach over it allocates nothing
        {
            int at = text.IndexOf(stop.AsSpan(), StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first)) first = at;
        }
        return first;
    }

    /// <summary>Length of the longest suffix of <paramref name="text"/> that is a proper prefix of some stop string: it may still become one.</summary>
    public static int HeldBack(ReadOnlySpan<char> text, string[] stops)
    {
        int held = 0;
        foreach (var stop in stops)
            for (int k = Math.Min(stop.Length - 1, text.Length); k > held; k--)
                if (text.EndsWith(stop.AsSpan(0, k), StringComparison.Ordinal)) { held = k; break; }
        return held;
    }
}
