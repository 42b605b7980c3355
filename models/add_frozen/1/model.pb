
;
aPlaceholder*
dtype0*
shape:ÿÿÿÿÿÿÿÿÿ
;
bPlaceholder*
dtype0*
shape:ÿÿÿÿÿÿÿÿÿ

diffSubab*
T0
#
IdentityIdentitydiff*
T0

sumAddV2ab*
T0
$

Identity_1Identitysum*
T0"ª