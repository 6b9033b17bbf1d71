using System.Text.RegularExpressions;
using Qwen3Gen.Tokenization;

namespace Qwen3Gen.Inference;

/// <summary>
/// Whether Qwen3 is expected to think in the next reply. Qwen3's model card: with <c>enable_thinking=False</c> the
/// template closes an empty think block and the model never thinks, whatever the user writes. Otherwise the user
/// (or system) text may hold the soft switches <c>/think</c> and <c>/no_think</c>; the model follows the most recent
/// one in the conversation, and thinks by default. The switches stay in the text: it is the model that reacts to
/// them (the template does not look at them). This only decides which sampling defaults fit the turn.
/// </summary>
public static partial class ChatThinkingMode
{
    // "/think" or "/no_think" as a word of its own: not "/thinking", not "a/think".
    [GeneratedRegex(@"(?<![\w/])/(no_)?think(?![\w/])", RegexOptions.CultureInvariant)]
    private static partial Regex Switch();

    /// <summary>The last soft switch in <paramref name="text"/>: true for /think, false for /no_think, null for none.</summary>
    public static bool? LastSwitch(string? text)
    {
        if (string.IsNullOrEmpty(text)) return null;
        var matches = Switch().Matches(text);
        return matches.Count == 0 ? null : !matches[^1].Groups[1].Success;
    }

    /// <summary>True when the next assistant turn is expected to think (see the type's remarks).</summary>
    public static bool IsThinking(IReadOnlyList<ChatMessage> messages, bool? enableThinking)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (enableThinking == false) return false;
        for (int i = messages.Count - 1; i >= 0; i--)
        {
            var m = messages[i];
            if (m.Role is not ("user" or "system")) continue;
            if (LastSwitch(m.Content) is bool on) return on;
        }
        return true;
    }
}
