namespace Qwen3Gen.Fuzz.Tests;

/// <summary>The allowed outcomes of reading a damaged input: success, or one of the documented exceptions naming the input.</summary>
public static class Outcome
{
    /// <summary>
    /// Runs <paramref name="read"/>; returns true when it succeeded, false when it threw one of <paramref name="allowed"/>
    /// with <paramref name="named"/> in the message. Any other exception, or an allowed one that does not name the
    /// input, fails the case (rethrown as is, or as an exception saying what was missing).
    /// </summary>
    public static bool Of(Action read, string named, params Type[] allowed)
    {
        try
        {
            read();
            return true;
        }
        catch (Exception e) when (allowed.Any(t => t.IsInstanceOfType(e)))
        {
            if (!e.Message.Contains(named, StringComparison.Ordinal))
                throw new InvalidOperationException($"{e.GetType().Name} does not name '{named}': {e.Message}", e);
            return false;
        }
    }
}
