"""Friend groups that meet: membership, common availability, options from safe to adventurous, carpools, votes,
monthly closure and retrospectives (issue 13). Built on shared.engine; never imports shared.api."""
